//go:build tools

// Package tools pins Dex, the OpenID provider flyt's tests log in through. It lives in its own
// module so that Dex's dependencies never enter flyt's build.
package tools

import _ "github.com/dexidp/dex/cmd/dex"
