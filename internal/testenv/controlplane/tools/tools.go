//go:build tools

// Package tools pins the Kubernetes control-plane commands that flyt's tests, benchmarks and demo
// run. It lives in its own module so that k8s.io/kubernetes never enters flyt's own build.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
