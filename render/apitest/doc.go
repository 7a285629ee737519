// Package apitest holds no code: its tests check that what package render generates is
// accepted by a real kube-apiserver (server-side apply, dry run, strict field validation). They
// live apart from render's own tests because they start a local control plane, which the fast
// unit tests of render should not wait for.
package apitest
