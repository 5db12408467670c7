-- Runs once, when the postgres volume is first created: one database per component
-- (each owns its schema and its Alembic history; nothing joins across them).
-- A component added later needs its line here and, on an existing volume, a manual
-- CREATE DATABASE: init scripts do not run again.
CREATE DATABASE wsli_registration;
CREATE DATABASE wsli_cases;
CREATE DATABASE wsli_training;
CREATE DATABASE wsli_scoring;
CREATE DATABASE wsli_webhooks;
CREATE DATABASE wsli_subsidies;
CREATE DATABASE wsli_risk;
CREATE DATABASE wsli_gateway;
CREATE DATABASE wsli_web;
