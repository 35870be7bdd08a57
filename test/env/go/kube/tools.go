//go:build tools

// Package tools pins the Kubernetes commands the local test environment builds. kubectl is built
// only on request (ensureKubectl in ../../build.ts: the benchmark's manual baseline), never by `up`.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
