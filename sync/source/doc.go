// Package source fetches team repositories at the revisions flyt deploys.
//
// A Cache keeps one bare Git repository per watched repository on disk. Sync asks the server
// where the watched branch points (ls-remote) and fetches only when it moved, so polling a
// thousand quiet repositories costs a thousand small requests and no packfiles. Checkout
// gives render a read-only fs.FS of any cached commit, read from the object store without a
// work tree, and old commits stay in the cache forever so that promotions and rollbacks can
// deploy them after a force-push. CommitFS reads a commit of any go-git repository the same
// way (`flyt render --revision`), and OpenWorkTree a folder on disk (`flyt render`): all three
// follow a symbolic link only while it stays inside the repository (links.go), so the CLI and
// the server agree about every commit.
//
// A Poller drives the Cache: it syncs every repository on a jittered interval with bounded
// concurrency, backs off from failing repositories, and syncs one at once when a webhook
// says it changed.
//
// Errors are *Error values classified by Reason. ErrBranchNotFound and ErrRepositoryNotFound
// (see Gone) say the source vanished or is empty: never a reason to prune (ARCHITECTURE.md
// invariant 1). Tokens and keys never appear in error text.
package source
