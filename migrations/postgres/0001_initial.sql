-- BooksWriter schema, PostgreSQL flavour (Supabase / PostgREST). The same logical schema as
-- src/schema/tables.ts and migrations/sqlite/0001_initial.sql.
--
-- Names are unqualified: they land in the first schema of search_path, which is `public` for
-- PostgREST, Supabase and docker-entrypoint-initdb.d, and a throwaway schema for tests that set
-- search_path first.
--
-- Plain SQL on purpose: it is applied by the service's migration runner (one transaction, recorded
-- in schema_migrations), by the PostgREST test server, and verbatim by a docker-entrypoint-initdb.d
-- (psql). Every statement is IF NOT EXISTS so that the runner can later record a database that the
-- entrypoint created.
--
-- gen_random_uuid() is built in since PostgreSQL 13 (no pgcrypto needed). Length limits mirror
-- maxLength in tables.ts; char_length() counts characters like SQLite's length().

create table if not exists users (
  id            uuid        primary key default gen_random_uuid(),
  email         text        not null check (char_length(email) between 1 and 320),
  display_name  text        not null check (char_length(display_name) <= 200),
  preferences   jsonb       not null default '{}'::jsonb,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  constraint users_email_key unique (email)
);

create index if not exists users_created_at_idx on users (created_at);

create table if not exists sessions (
  id            uuid        primary key default gen_random_uuid(),
  user_id       uuid        not null references users (id) on delete cascade,
  title         text        not null check (char_length(title) <= 500),
  status        text        not null default 'active' check (char_length(status) <= 32),
  metadata      jsonb       not null default '{}'::jsonb,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);

-- (user_id, created_at) serves the foreign key (cascade deletes, "sessions of a user") and the
-- default sort within a user.
create index if not exists sessions_user_id_created_at_idx on sessions (user_id, created_at);
create index if not exists sessions_created_at_idx on sessions (created_at);
create index if not exists sessions_status_idx on sessions (status);

create table if not exists authors (
  id            uuid        primary key default gen_random_uuid(),
  session_id    uuid        not null references sessions (id) on delete cascade,
  name          text        not null check (char_length(name) <= 200),
  bio           text        check (char_length(bio) <= 200000),
  writing_style text        check (char_length(writing_style) <= 2000),
  metadata      jsonb       not null default '{}'::jsonb,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);

create index if not exists authors_session_id_created_at_idx on authors (session_id, created_at);
create index if not exists authors_created_at_idx on authors (created_at);
create index if not exists authors_name_idx on authors (name);

create table if not exists plots (
  id            uuid        primary key default gen_random_uuid(),
  session_id    uuid        not null references sessions (id) on delete cascade,
  author_id     uuid        references authors (id) on delete set null,
  title         text        not null check (char_length(title) <= 500),
  summary       text        check (char_length(summary) <= 200000),
  genre         text        check (char_length(genre) <= 100),
  status        text        not null default 'draft' check (char_length(status) <= 32),
  word_count    integer     not null default 0 check (word_count >= 0),
  is_published  boolean     not null default false,
  metadata      jsonb       not null default '{}'::jsonb,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);

create index if not exists plots_session_id_created_at_idx on plots (session_id, created_at);
create index if not exists plots_author_id_idx on plots (author_id);
create index if not exists plots_created_at_idx on plots (created_at);
create index if not exists plots_status_idx on plots (status);
create index if not exists plots_genre_idx on plots (genre);

create table if not exists world_building (
  id            uuid        primary key default gen_random_uuid(),
  session_id    uuid        not null references sessions (id) on delete cascade,
  name          text        not null check (char_length(name) <= 200),
  category      text        check (char_length(category) <= 100),
  description   text        check (char_length(description) <= 200000),
  details       jsonb       not null default '{}'::jsonb,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);

create index if not exists world_building_session_id_created_at_idx on world_building (session_id, created_at);
create index if not exists world_building_created_at_idx on world_building (created_at);
create index if not exists world_building_category_idx on world_building (category);

create table if not exists characters (
  id                uuid        primary key default gen_random_uuid(),
  session_id        uuid        not null references sessions (id) on delete cascade,
  world_building_id uuid        references world_building (id) on delete set null,
  name              text        not null check (char_length(name) <= 200),
  role              text        check (char_length(role) <= 100),
  description       text        check (char_length(description) <= 200000),
  traits            jsonb       not null default '{}'::jsonb,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now()
);

create index if not exists characters_session_id_created_at_idx on characters (session_id, created_at);
create index if not exists characters_world_building_id_idx on characters (world_building_id);
create index if not exists characters_created_at_idx on characters (created_at);
create index if not exists characters_role_idx on characters (role);

-- On Supabase the API roles exist and need table privileges (the service uses the service_role
-- key); on a plain PostgreSQL they do not exist, so grant only to the roles that are there.
do $$
declare
  r text;
begin
  foreach r in array array['anon', 'authenticated', 'service_role'] loop
    if exists (select 1 from pg_roles where rolname = r) then
      execute format('grant select, insert, update, delete on all tables in schema %I to %I', current_schema(), r);
    end if;
  end loop;
end
$$;

-- Ask a running PostgREST to reload its schema cache (a no-op when nobody listens).
notify pgrst, 'reload schema';
