package report

import (
	"errors"
	"fmt"

	"github.com/flyt-platform/flyt/environments"
)

// NotifyTargets collects each team's notification URLs (Team.Notify) for a Notifier.
func NotifyTargets(p *environments.Platform) map[string][]string {
	out := make(map[string][]string)
	for _, t := range p.Teams {
		if len(t.Notify) > 0 {
			out[t.Name] = append([]string(nil), t.Notify...)
		}
	}
	return out
}

// ErrNoGitHubAuth reports a platform config that names neither a GitHub token file nor a
// complete GitHub App.
var ErrNoGitHubAuth = errors.New("github needs tokenFile, or appID, installationID and privateKeyFile")

// TokenSourceFromPlatform picks GitHub authentication from the platform config: a GitHub App
// when AppID is set (its key read from PrivateKeyFile), otherwise the token file. opts fill
// in the App's HTTP client, retries, metrics and clock; its key and ids come from gh.
func TokenSourceFromPlatform(gh environments.GitHub, opts AppTokenOptions) (TokenSource, error) {
	switch {
	case gh.AppID != 0:
		if gh.InstallationID == 0 || gh.PrivateKeyFile == "" {
			return nil, fmt.Errorf("github app %d: %w", gh.AppID, ErrNoGitHubAuth)
		}
		opts.AppID, opts.InstallationID = gh.AppID, gh.InstallationID
		if gh.APIURL != "" {
			opts.APIURL = gh.APIURL
		}
		return AppTokenFromFile(gh.PrivateKeyFile, opts)
	case gh.TokenFile != "":
		return StaticToken(gh.TokenFile), nil
	default:
		return nil, ErrNoGitHubAuth
	}
}
