package examples

import (
	"embed"
	"path"
	"strings"
)

// FS holds platform.yaml and every team repository under teams/<team>/<repository>/, dot
// files (.flyt.yaml, .nais/) included. The demo commits them into Git repositories it serves.
//
//go:embed platform.yaml all:teams
var FS embed.FS

// PlatformFile is the example platform config inside FS.
const PlatformFile = "platform.yaml"

// RepoDir is the folder inside FS that holds the example repository team reaches at url:
// teams/<team>/<last element of url without .git>.
func RepoDir(team, url string) string {
	return path.Join("teams", team, strings.TrimSuffix(path.Base(url), ".git"))
}
