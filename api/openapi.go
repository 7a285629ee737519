package api

import (
	_ "embed"
	"net/http"
)

// openAPIDoc describes every route of apiRoutes; TestOpenAPIMatchesRoutes keeps the two in step.
//
//go:embed openapi.yaml
var openAPIDoc []byte

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPIDoc) // the client went away; nothing to do
}
