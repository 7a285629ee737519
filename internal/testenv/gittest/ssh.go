package gittest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHServer serves a Server's repositories over SSH the way Git hosts do: it accepts one
// client key and runs `git upload-pack` for `git-upload-pack '<path>'` exec requests.
// Pushing over SSH is not supported (tests push with Commit).
type SSHServer struct {
	// Addr is host:port of the listener.
	Addr string
	// KeyFile is a private key (OpenSSH PEM, no passphrase) the server accepts.
	KeyFile string
	// KnownHostsFile lists the server's host key for Addr.
	KnownHostsFile string
	// OtherKeyFile is a valid private key the server does not accept.
	OtherKeyFile string
	// WrongKnownHostsFile lists another host key for Addr, as after a man in the middle.
	WrongKnownHostsFile string

	srv         *Server
	ln          net.Listener
	uploadPacks atomic.Int64
	wg          sync.WaitGroup

	// Guards the fields below.
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// NewSSHServer starts an SSH server for s's repositories on a loopback port, with a fresh
// host key and client key written to a temporary directory; it stops when the test ends.
func NewSSHServer(t testing.TB, s *Server) *SSHServer {
	t.Helper()
	dir := t.TempDir()
	hostSigner, hostPub := newKey(t)
	_, wrongHostPub := newKey(t)
	_, clientPub := newKey(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen for ssh: %v", err)
	}
	ss := &SSHServer{Addr: ln.Addr().String(), srv: s, ln: ln, conns: map[net.Conn]bool{}}
	ss.KeyFile = writeKey(t, dir, "id_client", clientPub.priv)
	_, otherPub := newKey(t)
	ss.OtherKeyFile = writeKey(t, dir, "id_other", otherPub.priv)
	ss.KnownHostsFile = writeKnownHosts(t, dir, "known_hosts", ss.Addr, hostPub.pub)
	ss.WrongKnownHostsFile = writeKnownHosts(t, dir, "known_hosts_wrong", ss.Addr, wrongHostPub.pub)

	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(clientPub.pub.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("key not authorized")
		},
	}
	cfg.AddHostKey(hostSigner)

	ss.wg.Add(1)
	go func() {
		defer ss.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			ss.mu.Lock()
			ss.conns[conn] = true
			ss.mu.Unlock()
			ss.wg.Add(1)
			go func() {
				defer ss.wg.Done()
				ss.serveConn(conn, cfg)
				ss.mu.Lock()
				delete(ss.conns, conn)
				ss.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		// Close connections a client left open too, so that the test cannot hang here.
		_ = ln.Close()
		ss.mu.Lock()
		for c := range ss.conns {
			_ = c.Close()
		}
		ss.mu.Unlock()
		ss.wg.Wait()
	})
	return ss
}

// URL is the ssh:// clone URL of a repository.
func (ss *SSHServer) URL(r *Repo) string { return "ssh://git@" + ss.Addr + "/" + r.Name }

// UploadPacks counts the upload-pack sessions served: every ls-remote and fetch over SSH.
func (ss *SSHServer) UploadPacks() int64 { return ss.uploadPacks.Load() }

func (ss *SSHServer) serveConn(conn net.Conn, cfg *ssh.ServerConfig) {
	defer conn.Close()
	sconn, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	defer sconn.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go ss.serveSession(ch, chReqs)
	}
}

func (ss *SSHServer) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		dir, err := ss.repoDir(payload.Command)
		if err != nil {
			// What git hosts do: the command runs, says why on stderr and exits non-zero.
			fmt.Fprintf(ch.Stderr(), "%v\n", err)
			_, _ = ch.SendRequest("exit-status", false, exitStatus(128))
			return
		}
		ss.uploadPacks.Add(1)
		_, _ = ch.SendRequest("exit-status", false, exitStatus(ss.runUploadPack(ch, dir)))
		return
	}
}

// repoDir maps "git-upload-pack '/team/app'" to the repository's directory.
func (ss *SSHServer) repoDir(command string) (string, error) {
	verb, arg, ok := strings.Cut(command, " ")
	if !ok || verb != "git-upload-pack" {
		return "", fmt.Errorf("unsupported command %q", command)
	}
	p := path.Clean("/" + strings.Trim(arg, "'\""))
	dir := filepath.Join(ss.srv.Root, filepath.FromSlash(p))
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		return "", fmt.Errorf("fatal: '%s' does not appear to be a git repository", p)
	}
	return dir, nil
}

func (ss *SSHServer) runUploadPack(ch ssh.Channel, dir string) int {
	cmd := exec.Command("git", "upload-pack", "--strict", dir)
	cmd.Env = append(gitEnv(ss.srv.gitHome), "PATH="+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 1
	}
	if err := cmd.Start(); err != nil {
		return 1
	}
	// Not waited for: it ends when the channel closes after upload-pack exits.
	go func() {
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	}()
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		return 1
	}
	return 0
}

func exitStatus(code int) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, uint32(code))
	return b
}

type keyPair struct {
	pub  ssh.PublicKey
	priv ed25519.PrivateKey
}

func newKey(t testing.TB) (ssh.Signer, keyPair) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatalf("make signer: %v", err)
	}
	return signer, keyPair{pub: signer.PublicKey(), priv: priv}
}

func writeKey(t testing.TB, dir, name string, priv ed25519.PrivateKey) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(priv, "gittest")
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatalf("write key: %v", err)
	}
	return p
}

func writeKnownHosts(t testing.TB, dir, name, addr string, key ssh.PublicKey) string {
	t.Helper()
	p := filepath.Join(dir, name)
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
		t.Fatalf("write known_hosts: %v", err)
	}
	return p
}
