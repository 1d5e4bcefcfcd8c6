-- A supervision's start and end name the supervisor's leg (issue 18), so an
-- API that starts after another can find the supervisions that one left
-- without an end (their legs gone from Asterisk while no API ran) and
-- write it. This index keeps that look from reading every call event.

CREATE INDEX call_events_supervision_legs ON call_events (kind, (detail ->> 'leg'))
    WHERE kind IN ('supervision_started', 'supervision_ended');
