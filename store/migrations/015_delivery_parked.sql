-- On SQLite, 1 while a delivery waits without a River job for an earlier
-- pending one it follows (insertJobs): that one's last attempt hands it on
-- (wakeSuccessors), and the Dispatcher's sweep gives it a job if it still
-- waits a minute later. 0 otherwise, and always on PostgreSQL, where a
-- waiting delivery keeps a parked River job that every instance sees.
ALTER TABLE delivery ADD COLUMN parked INTEGER NOT NULL DEFAULT 0;
