#!/usr/bin/env bash
# Adds an EF Core migration to a service for both providers: SQLite (Data/Migrations) and PostgreSQL
# (Data/Migrations/Postgres).   Usage: scripts/add-migration.sh Ordering AddShippingAddress
#
# Why a script: `dotnet ef` writes the model snapshot next to any file named <Context>ModelSnapshot.cs it finds in the
# project, so with two providers it would overwrite the other provider's snapshot. Each run hides the other one.
set -euo pipefail
cd "$(dirname "$0")/.."
service="$1" name="$2"
project="src/Services/$service"
migrations="$project/Data/Migrations"
sqlite_snapshot=$(ls "$migrations"/*ModelSnapshot.cs)
postgres_snapshot="$migrations/Postgres/$(basename "$sqlite_snapshot")"
lower=$(echo "$service" | tr '[:upper:]' '[:lower:]')

hide() { [ -f "$1" ] && mv "$1" "$1.hidden" || true; }
show() { [ -f "$1.hidden" ] && mv "$1.hidden" "$1" || true; }
trap 'show "$sqlite_snapshot"; show "$postgres_snapshot"' EXIT

dotnet tool restore >/dev/null
hide "$postgres_snapshot"
dotnet ef migrations add "$name" --project "$project" -o Data/Migrations
show "$postgres_snapshot"

# Design time needs only the provider and some connection string; nothing connects.
hide "$sqlite_snapshot"
env Mercato__Profile=ScaleOut "ConnectionStrings__$lower=Host=127.0.0.1;Database=design;Username=design" \
  ConnectionStrings__rabbitmq=amqp://guest:guest@127.0.0.1:5672/ \
  dotnet ef migrations add "$name" --project "$project" -o Data/Migrations/Postgres
show "$sqlite_snapshot"
