#!/usr/bin/env bash
# Regenerates Wolverine's handler code (src/Services/*/Internal/Generated) for every messaging service, after a
# handler, saga or messaging policy changed. Each service's GeneratedHandlerCodeTests fails until this is run and the
# result built and committed.
set -euo pipefail
cd "$(dirname "$0")/.."
services=(Ordering Payment Inventory Notification Analytics)
for service in "${services[@]}"; do
  MERCATO_WRITE_GENERATED_CODE=1 dotnet test "tests/$service.Tests" --filter GeneratedHandlerCodeTests
done
# Second pass: the services now compile the new code in; every test must pass without writing.
for service in "${services[@]}"; do
  dotnet test "tests/$service.Tests" --filter GeneratedHandlerCodeTests
done
