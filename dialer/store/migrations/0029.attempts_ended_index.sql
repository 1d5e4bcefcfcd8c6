-- Each campaign's calls that ended within a window (the abandon rate over
-- the regulators' 24 h and 30 days, read by the floor's exporter at every
-- scrape, by `campaign status` and the API): without an index every such
-- read walked the whole attempts table, once per campaign. result is
-- carried in the index so the count reads no table row the visibility map
-- vouches for.
CREATE INDEX attempts_ended ON attempts (campaign_id, ended_at) INCLUDE (result)
    WHERE ended_at IS NOT NULL;
