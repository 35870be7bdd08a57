//go:build tools

// Package tools pins KWOK (sigs.k8s.io/kwok), which the local test environment runs against the
// control plane to provide simulated nodes: pods scheduled onto them become Running and Ready, so
// Deployments roll out like on a real cluster. Built with `go build sigs.k8s.io/kwok/cmd/kwok`.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
