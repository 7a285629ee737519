// Package history is flyt's durable continuous-delivery record: every deploy, its append-only
// status log, the objects it applied and the revisions promoted to each environment, kept in
// SQLite (embedded default) or PostgreSQL (several replicas), with the queries and DORA metrics
// operators ask of it.
package history
