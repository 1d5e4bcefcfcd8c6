-- Delivery reports (issue 15): what the SMS provider last said of a
-- message after taking it (Kannel's dlr-mask 31: 1 delivered, 2
-- undelivered, 4 buffered, 8 taken by the SMSC, 16 refused by the SMSC),
-- when, and the SMSC's own answer (Kannel's %A). A final report (1, 2, 16)
-- also moves the message to delivered or undelivered; one that comes
-- before the sender has marked the message sent waits here, and marking
-- it sent takes it into account (dialer.messages.store.mark_sent).
ALTER TABLE messages
    ADD COLUMN delivery_code        smallint CHECK (delivery_code BETWEEN 1 AND 255),
    ADD COLUMN delivery_reported_at timestamptz,
    ADD COLUMN delivery_answer      text CHECK (length(delivery_answer) <= 255),
    ADD CHECK ((delivery_code IS NULL) = (delivery_reported_at IS NULL));
