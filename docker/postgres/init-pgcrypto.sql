-- Runs once when the container's database is created. `loginvault migrate`
-- creates the rest; pgcrypto is enabled here too so a superuser is not needed later.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
