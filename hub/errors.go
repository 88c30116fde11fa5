package hub

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Errors that [Client] methods wrap, for errors.Is.
var (
	// ErrRepoNotFound: the repository does not exist, or is private and
	// the request carried no token that may read it.
	ErrRepoNotFound = errors.New("repository not found")
	// ErrRevisionNotFound: the repository has no such branch, tag or commit.
	ErrRevisionNotFound = errors.New("revision not found")
	// ErrFileNotFound: the repository has no such file at the revision.
	ErrFileNotFound = errors.New("file not found")
	// ErrUnauthorized: the hub wants a token (gated or private repository)
	// or refused the one given.
	ErrUnauthorized = errors.New("access denied")
	// ErrNotCached: offline, and the cache lacks what was asked for.
	ErrNotCached = errors.New("not in the Hugging Face cache")
	// ErrUnreachable: the hub could not be reached (no network, a name
	// that does not resolve, a refused connection) or did not answer in
	// time, and the cache lacks what was asked for.
	ErrUnreachable = errors.New("the hub cannot be reached")
	// ErrChecksum: a downloaded file does not match the hub's checksum.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrNoWeights: the repository holds no weights gomerge can read.
	ErrNoWeights = errors.New("no model weights")
)

// classError is an error whose message already says what its class, a
// sentinel above, says.
type classError struct {
	msg   string
	class error
}

func (e *classError) Error() string        { return e.msg }
func (e *classError) Is(target error) bool { return target == e.class }

// HTTPError is a failed request to the hub, explained for the user. It
// matches ErrRepoNotFound, ErrRevisionNotFound, ErrFileNotFound or
// ErrUnauthorized with errors.Is, according to the status and the hub's
// X-Error-Code header.
type HTTPError struct {
	Repo, Revision, File string // what was asked for; File may be empty
	URL                  string
	StatusCode           int
	Code                 string // the hub's X-Error-Code header
	Message              string // the hub's X-Error-Message header
	HadToken             bool   // whether the request carried a token
	Endpoint             string
}

// Error returns a message that says what went wrong and what to do.
func (e *HTTPError) Error() string {
	what := e.Repo
	if e.Revision != "" {
		what += "@" + e.Revision
	}
	if e.File != "" {
		what += ": " + e.File
	}
	var b strings.Builder
	fmt.Fprintf(&b, "hub: %s: %d %s", what, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		fmt.Fprintf(&b, " (%s)", e.Message)
	}
	b.WriteString(": ")
	b.WriteString(e.advice())
	return b.String()
}

func (e *HTTPError) advice() string {
	page := strings.TrimRight(e.Endpoint, "/") + "/" + e.Repo
	tokens := strings.TrimRight(e.Endpoint, "/") + "/settings/tokens"
	switch {
	case e.Code == "RevisionNotFound":
		return fmt.Sprintf("the repository has no branch, tag or commit %q", e.Revision)
	case e.Code == "EntryNotFound":
		return fmt.Sprintf("the repository has no file %q at revision %q", e.File, e.Revision)
	case e.Code == "GatedRepo" && e.StatusCode == http.StatusForbidden:
		return "this gated repository has not granted your token access; request access at " + page +
			" and make sure HF_TOKEN holds a token of that account"
	case e.Code == "GatedRepo" && !e.HadToken:
		return "this repository is gated: accept its conditions at " + page +
			", then set HF_TOKEN to a token of that account (" + tokens + ") or run `hf auth login`"
	case e.StatusCode == http.StatusUnauthorized && e.HadToken:
		return "the hub refused the token (from HF_TOKEN or the token file); check that it is valid and may read " + e.Repo
	case e.StatusCode == http.StatusUnauthorized:
		return "the repository does not exist, or it is private or gated: check the name, and if you may read it, " +
			"set HF_TOKEN to an access token (" + tokens + ") or run `hf auth login`"
	case e.StatusCode == http.StatusForbidden:
		return "your token may not read this repository; check its permissions"
	case e.Code == "RepoNotFound" || e.StatusCode == http.StatusNotFound && e.File == "":
		return fmt.Sprintf("no model repository %q at %s; check the name, or give the path of a local model directory", e.Repo, e.Endpoint)
	case e.StatusCode == http.StatusNotFound:
		return "not found"
	}
	return "request to " + e.URL + " failed"
}

// Is reports whether target is the sentinel error e stands for.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrRevisionNotFound:
		return e.Code == "RevisionNotFound"
	case ErrFileNotFound:
		return e.Code == "EntryNotFound" || e.StatusCode == http.StatusNotFound && e.Code == "" && e.File != ""
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrRepoNotFound:
		return e.Code == "RepoNotFound" || e.StatusCode == http.StatusNotFound && e.Code == "" && e.File == ""
	}
	return false
}

// ChecksumError reports a downloaded file whose contents do not match the
// hub's checksum. It matches ErrChecksum.
type ChecksumError struct {
	Repo, File string
	Algorithm  string // "sha256" or "git-sha1"
	Want, Got  string
}

// Error names the file and both digests.
func (e *ChecksumError) Error() string {
	return fmt.Sprintf("hub: %s: %s: %s is %s, the hub says %s; the download was discarded, run again to retry",
		e.Repo, e.File, e.Algorithm, e.Got, e.Want)
}

// Is reports whether target is ErrChecksum.
func (e *ChecksumError) Is(target error) bool { return target == ErrChecksum }
