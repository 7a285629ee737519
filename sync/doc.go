// Package sync is flyt's controller loop: it watches team Git repositories, queues work per
// (app, environment), applies rendered objects server-side with fluxcd/pkg/ssa, prunes what a
// new revision no longer has, waits for readiness, corrects drift and records every step in the
// history store.
//
// Inside this package `import "sync"` still means the standard library; code that needs both
// imports this one as flytsync.
package sync
