#!/usr/bin/env bash
# Install and start the servers the tests need. Sourced by scripts/test.sh; each part
# exports the variables the tests read, and registers its own cleanup.
services_start() {
    :
}
