"""What an agent hears after dialing a feature code from the softphone
(*81 log in, *82 log out, *83 ready, *84N pause): the state it is now in,
or why it could not be done."""

from __future__ import annotations

from ivr.recordings import Recording, sound

LOGGED_IN = Recording(sound("agent-logged-in"), {
    "en": "You are logged in and ready for calls.",
    "es": "Ha iniciado sesión y está listo para recibir llamadas.",
})
ALREADY_LOGGED_IN = Recording(sound("agent-already-logged-in"), {
    "en": "You are already logged in.",
    "es": "Ya tiene la sesión iniciada.",
})
LOGGED_OUT = Recording(sound("agent-logged-out"), {
    "en": "You are logged out. Goodbye.",
    "es": "Ha cerrado la sesión. Adiós.",
})
READY = Recording(sound("agent-ready"), {
    "en": "You are ready for calls.",
    "es": "Está listo para recibir llamadas.",
})
PAUSED = Recording(sound("agent-paused"), {
    "en": "You are paused. Dial star eight three when you are ready.",
    "es": "Está en pausa. Marque asterisco ocho tres cuando esté listo.",
})
REFUSED = Recording(sound("agent-refused"), {
    "en": "That cannot be done now. Your state has not changed.",
    "es": "No es posible en este momento. Su estado no ha cambiado.",
})
UNKNOWN_PHONE = Recording(sound("agent-unknown"), {
    "en": "This phone is not set up as an agent.",
    "es": "Este teléfono no está configurado como agente.",
})
# Played by the dialplan when `recobro api` is not running.
SERVICE_DOWN = Recording(sound("agent-service-down"), {
    "en": "The agent service is not running, so your state has not changed. "
          "Please tell your supervisor.",
    "es": "El servicio de agentes no está en marcha, así que su estado no ha cambiado. "
          "Avise a su supervisor.",
})
RECORDINGS = (LOGGED_IN, ALREADY_LOGGED_IN, LOGGED_OUT, READY, PAUSED, REFUSED, UNKNOWN_PHONE,
              SERVICE_DOWN)
