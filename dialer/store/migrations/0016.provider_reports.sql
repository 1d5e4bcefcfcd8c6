-- An HTTP SMS provider reports on a text by its own id for it
-- (messages.provider_reference, written when the provider took the text):
-- the callback listener finds the text by that id, once per report.
CREATE INDEX messages_provider_reference ON messages (provider_reference)
    WHERE channel = 'sms' AND provider_reference IS NOT NULL;
