// Package sync is flyt's controller loop: it watches team Git repositories, queues work per
// (app, environment), applies rendered objects server-side with fluxcd/pkg/ssa, prunes what a
// new revision no longer has, waits for readiness, corrects drift and records every step in the
// history store.
//
// What it costs the API server, per app and environment (bench/ measures it):
//   - a first deploy: one server-side apply per object (the watch says none exists yet), then
//     the readiness wait from the apply responses and a watch of flyt's Deployments;
//   - a later deploy: ssa's read, dry-run and write for each changed object; none for an
//     object the watch shows exactly as the new revision renders it (same digest, flyt's
//     fields untouched), which is recorded unchanged and keeps the deploy-id annotation of
//     the deploy that last wrote it;
//   - a resync when nothing changed: no request. A metadata-only watch of flyt's objects
//     (one per kind and namespace) and the fingerprint of flyt's field ownership tell that
//     nothing was touched; what the watch shows changed gets the dry-run (liveCache).
//
// The readiness wait runs outside the workers: a worker applies and moves on, and a newer
// deploy of the same app and environment supersedes a rollout still waiting.
//
// Inside this package `import "sync"` still means the standard library; code that needs both
// imports this one as flytsync.
package sync
