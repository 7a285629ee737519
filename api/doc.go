// Package api is flyt's HTTP face: the JSON API under /api/v1 (described by the OpenAPI 3
// document it serves at /api/v1/openapi.yaml), the server-sent-events stream of deploy status
// changes at /api/v1/events, and the server-rendered web UI (the apps × environments matrix, a
// timeline per app, one page per deploy, and DORA figures per team).
//
// Reads come from the history store, so every replica answers them. Writes (promote, rollback,
// deploy, freeze) go to the controller through the Operator interface; a replica that does not
// reconcile has no Operator and answers them with 503.
//
// # Who is asking
//
// Operator actions record who asked for them. The server takes that name from the X-Flyt-User
// request header and uses "anonymous" when it is absent. The header is not authentication:
// anybody who can reach the server can set it. A real deployment puts an authenticating proxy
// (an OIDC proxy, an ingress with forward auth) in front of flyt that sets X-Flyt-User from
// the verified identity and strips any value the client sent.
package api
