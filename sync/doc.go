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
// The files, by what each owns:
//   - controller.go: Controller, its Options and Run: the workers, the resync loop, Idle;
//   - fairqueue.go: the work queue, fair across teams;
//   - handoff.go: the queue hand-off: each key's newest request (pendingRequests), enqueue,
//     requeue (put a request back unless a newer one arrived), retry, and the worker's
//     handling of one key with its net for panics;
//   - repos.go: the teams' repositories (repositories): the apps each declares, the pushes
//     webhooks announced, RepositoryChanged, and loading each repository once per commit;
//   - holds.go: freezes and held work (holds): windows, freezes and suspensions that hold
//     automatic work, and releasing it later;
//   - rollouts.go: the readiness waits beside the workers (rollouts), handing a rollout off
//     to one and superseding it;
//   - reconcile.go: one key's reconcile, as decide → hold back → render → drift check or
//     apply → hand off, and automatic promotion;
//   - promote.go: promotions and rollbacks people ask for;
//   - deploy.go, apply.go, wait.go, diagnose.go, images.go: one deploy (Deployer): record,
//     wait for images, apply, prune, wait for readiness and say why it is not ready;
//   - cluster.go, livecache.go: the connection to an environment's cluster and its watch of
//     flyt's objects;
//   - diff.go, metrics.go, panics.go: what a revision would change, the metrics, and how a
//     panic ends one deploy instead of the process.
//
// Each part of the controller's state has a mutex of its own, named in its type's doc
// comment; none is held across I/O or while taking another (holds.record, which orders
// freezes with the store, is taken before holds.mu).
//
// Inside this package `import "sync"` still means the standard library; code that needs both
// imports this one as flytsync.
package sync
