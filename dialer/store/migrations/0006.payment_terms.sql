-- What a campaign offers a debtor who pays by keypad (issue 14), per
-- segment strategy: a settlement of a share of the balance paid today, a
-- plan of N monthly payments, a promise to pay within N days. NULL: not
-- offered. The full balance is always offered.
ALTER TABLE strategies
    ADD COLUMN settlement_percent integer
        CHECK (settlement_percent BETWEEN 1 AND 99),
    ADD COLUMN instalments integer
        CHECK (instalments BETWEEN 2 AND 24),
    ADD COLUMN promise_days integer
        CHECK (promise_days BETWEEN 0 AND 180);

-- Strategies made before this migration offer what the defaults do now
-- (dialer.portfolio.model.default_strategies): a promise within 14 days
-- everywhere, 3, 6 or 12 monthly payments, a 70% settlement for late debt.
UPDATE strategies SET promise_days = 14,
    instalments = CASE segment WHEN 'early' THEN 3 WHEN 'mid' THEN 6 ELSE 12 END,
    settlement_percent = CASE segment WHEN 'late' THEN 70 END;
