-- The dial mode each attempt was placed in (issue 17, the strategy
-- report): a campaign's mode may change while its history stays, so the
-- attempt keeps the mode of the moment it was written. Filled by the
-- database from the campaign's mode when the insert does not give one.
-- Before this migration no code changed a campaign's mode after it was
-- created, so the campaign's mode now is the mode its attempts had.

ALTER TABLE attempts ADD COLUMN dial_mode text
    CHECK (dial_mode IN ('preview', 'progressive', 'ratio', 'predictive'));

UPDATE attempts t SET dial_mode = c.dial_mode FROM campaigns c WHERE c.id = t.campaign_id;

ALTER TABLE attempts ALTER COLUMN dial_mode SET NOT NULL;

CREATE FUNCTION attempts_dial_mode() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.dial_mode IS NULL THEN
        SELECT dial_mode INTO NEW.dial_mode FROM campaigns WHERE id = NEW.campaign_id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER attempts_dial_mode BEFORE INSERT ON attempts
    FOR EACH ROW EXECUTE FUNCTION attempts_dial_mode();
