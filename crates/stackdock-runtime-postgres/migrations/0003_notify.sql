-- Wake idle workers: a run that becomes claimable (inserted queued, or put
-- back to queued) notifies channel `stackdock_runs` with the schema's name
-- as payload (one channel for every schema of the database; listeners keep
-- their own schema's). Sent at commit, deduplicated per transaction.
CREATE FUNCTION runs_notify_claimable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('stackdock_runs', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;
CREATE TRIGGER runs_notify_claimable AFTER INSERT OR UPDATE OF status ON runs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION runs_notify_claimable();
