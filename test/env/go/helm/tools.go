//go:build tools

// Package tools pins the Helm CLI (helm.sh/helm/v3/cmd/helm), which the integration tests use to
// install and upgrade the test chart (test/charts/flyte-core-lite) next to credsync, as users of the
// flyte-core chart do. Built only on request: ensureHelm() in ../../build.ts.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
