# The Makefile is the front door: every target creates the venv it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo serve test check bench lock clean chromium node vendor vendor-assets vendor-docs \
	vendor-sdk

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/omni demo

serve: $(STAMP)
	$(BIN)/omni serve

check: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: check chromium node
	$(BIN)/pytest

# The console's browser tests drive Debian's Chromium through Playwright (no browser download).
chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

# analytics-node's test runs on Node.js 18+ (the machine's, else Debian's).
node:
	@command -v node >/dev/null || (apt-get update && apt-get install -y nodejs)

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

# Regenerate the lock after changing dependencies in pyproject.toml.
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes -o requirements.lock

# Refresh the console's vendored front-end assets from the npm registry (the files are committed,
# so serving the console never needs npm or a CDN). Bump a version here, run it, commit the result.
VENDOR          := src/omnichannel/console/static/vendor
HTMX_VERSION    := 2.0.11
PICO_VERSION    := 2.1.1
CHARTJS_VERSION := 4.6.1
vendor: vendor-assets vendor-docs vendor-sdk

vendor-assets:
	@tmp=$$(mktemp -d) && cd $$tmp && \
	npm pack --silent htmx.org@$(HTMX_VERSION) @picocss/pico@$(PICO_VERSION) \
		chart.js@$(CHARTJS_VERSION) >/dev/null && \
	mkdir htmx pico chart && tar xzf htmx.org-*.tgz -C htmx && \
	tar xzf picocss-pico-*.tgz -C pico && tar xzf chart.js-*.tgz -C chart && \
	cd $(CURDIR) && mkdir -p $(VENDOR) && \
	cp $$tmp/htmx/package/dist/htmx.min.js $(VENDOR)/htmx.min.js && \
	cp $$tmp/htmx/package/LICENSE $(VENDOR)/htmx.LICENSE && \
	cp $$tmp/pico/package/css/pico.min.css $(VENDOR)/pico.min.css && \
	cp $$tmp/pico/package/LICENSE.md $(VENDOR)/pico.LICENSE.md && \
	cp $$tmp/chart/package/dist/chart.umd.min.js $(VENDOR)/chart.umd.min.js && \
	cp $$tmp/chart/package/LICENSE.md $(VENDOR)/chart.LICENSE.md && \
	printf 'htmx.org %s (0BSD)\n@picocss/pico %s (MIT)\nchart.js %s (MIT)\n' \
		$(HTMX_VERSION) $(PICO_VERSION) $(CHARTJS_VERSION) > $(VENDOR)/VERSIONS && \
	rm -rf $$tmp && echo "vendored into $(VENDOR):" && cat $(VENDOR)/VERSIONS

# The API's documentation pages, /docs (Swagger UI) and /redoc, served from the package
# (omnichannel.apidocs) rather than a CDN: only the files the pages load, with their licences
# (the *.js.LICENSE.txt files list the libraries bundled inside).
DOCS_VENDOR        := src/omnichannel/apidocs/vendor
SWAGGER_UI_VERSION := 5.35.0
REDOC_VERSION      := 2.5.4
vendor-docs:
	@tmp=$$(mktemp -d) && cd $$tmp && \
	npm pack --silent swagger-ui-dist@$(SWAGGER_UI_VERSION) redoc@$(REDOC_VERSION) >/dev/null && \
	mkdir swagger redoc && tar xzf swagger-ui-dist-*.tgz -C swagger && \
	tar xzf redoc-*.tgz -C redoc && \
	cd $(CURDIR) && mkdir -p $(DOCS_VENDOR) && \
	cp $$tmp/swagger/package/swagger-ui-bundle.js $(DOCS_VENDOR)/swagger-ui-bundle.js && \
	cp $$tmp/swagger/package/swagger-ui-bundle.js.LICENSE.txt $(DOCS_VENDOR)/ && \
	cp $$tmp/swagger/package/swagger-ui.css $(DOCS_VENDOR)/swagger-ui.css && \
	cp $$tmp/swagger/package/favicon-32x32.png $(DOCS_VENDOR)/favicon-32x32.png && \
	cp $$tmp/swagger/package/LICENSE $(DOCS_VENDOR)/swagger-ui.LICENSE && \
	cp $$tmp/swagger/package/NOTICE $(DOCS_VENDOR)/swagger-ui.NOTICE && \
	cp $$tmp/redoc/package/bundles/redoc.standalone.js $(DOCS_VENDOR)/redoc.standalone.js && \
	cp $$tmp/redoc/package/bundles/redoc.standalone.js.LICENSE.txt $(DOCS_VENDOR)/ && \
	cp $$tmp/redoc/package/LICENSE $(DOCS_VENDOR)/redoc.LICENSE && \
	printf 'swagger-ui-dist %s (Apache-2.0)\nredoc %s (MIT)\n' \
		$(SWAGGER_UI_VERSION) $(REDOC_VERSION) > $(DOCS_VENDOR)/VERSIONS && \
	rm -rf $$tmp && echo "vendored into $(DOCS_VENDOR):" && cat $(DOCS_VENDOR)/VERSIONS

# The JavaScript SDKs the ingestion tests drive: analytics.js and RudderStack's in Chromium
# (tests/events/test_analytics_js.py, test_rudderstack_js.py), analytics-node on node
# (tests/events/test_analytics_node.py).
SDK_VENDOR := tests/events/sdk
ANALYTICS_NEXT_VERSION := 1.84.3
ANALYTICS_NODE_VERSION := 3.1.0
RUDDERSTACK_JS_VERSION := 3.34.1
ESBUILD_VERSION := 0.28.2
vendor-sdk:
	@tmp=$$(mktemp -d) && cd $$tmp && \
	npm pack --silent @segment/analytics-next@$(ANALYTICS_NEXT_VERSION) >/dev/null && \
	tar xzf segment-analytics-next-*.tgz && cd $(CURDIR) && mkdir -p $(SDK_VENDOR) && \
	cp $$tmp/package/dist/umd/index.js $(SDK_VENDOR)/analytics-next.umd.js && \
	cp $$tmp/package/LICENSE.MD $(SDK_VENDOR)/analytics-next.LICENSE.md && \
	printf '@segment/analytics-next %s (MIT)\n' $(ANALYTICS_NEXT_VERSION) > $(SDK_VENDOR)/VERSIONS && \
	rm -rf $$tmp
	@# RudderStack's browser SDK, the build with its plugins inside (the others fetch them from a CDN).
	@tmp=$$(mktemp -d) && cd $$tmp && \
	npm pack --silent @rudderstack/analytics-js@$(RUDDERSTACK_JS_VERSION) >/dev/null && \
	tar xzf rudderstack-analytics-js-*.tgz && cd $(CURDIR) && \
	cp $$tmp/package/dist/npm/modern/bundled/umd/index.js $(SDK_VENDOR)/rudderstack-analytics.umd.js && \
	cp $$tmp/package/LICENSE.md $(SDK_VENDOR)/rudderstack-analytics.LICENSE.md && \
	printf '@rudderstack/analytics-js %s (MIT)\n' $(RUDDERSTACK_JS_VERSION) >> $(SDK_VENDOR)/VERSIONS && \
	rm -rf $$tmp
	@# analytics-node and its dependencies, bundled into one file by esbuild (MIT) to run on node.
	@tmp=$$(mktemp -d) && cd $$tmp && npm init -y >/dev/null && \
	npm install --silent @segment/analytics-node@$(ANALYTICS_NODE_VERSION) >/dev/null && \
	echo 'module.exports = require("@segment/analytics-node");' > entry.js && \
	npx --yes esbuild@$(ESBUILD_VERSION) entry.js --bundle --minify --platform=node \
		--target=node18 --outfile=analytics-node.js --log-level=warning && \
	printf 'analytics-node.js: esbuild %s bundle of\n' $(ESBUILD_VERSION) > bundled && \
	npm query ':root > .prod, :root > .prod *' > packages.json && \
	node -p 'require("./packages.json").map((p) => `  $${p.name} $${p.version} ($${p.license})`).join("\n")' \
		>> bundled && \
	cd $(CURDIR) && cp $$tmp/analytics-node.js $(SDK_VENDOR)/analytics-node.js && \
	cp $$tmp/node_modules/@segment/analytics-node/LICENSE $(SDK_VENDOR)/analytics-node.LICENSE && \
	cat $$tmp/bundled >> $(SDK_VENDOR)/VERSIONS && \
	rm -rf $$tmp && echo "vendored into $(SDK_VENDOR):" && cat $(SDK_VENDOR)/VERSIONS

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
