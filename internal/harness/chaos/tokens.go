package chaos

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// proxyOut is the address the suite's tinyproxy connects out from (Bind):
// a request that came from it came through the proxy.
const proxyOut = "127.0.0.2"

// tokenServer is the receivers scenario's OAuth 2.0 token endpoint (the
// client credentials grant): it checks the client's id and secret (HTTP
// Basic), the grant, the scope and the audience, and issues tokens that
// expire within seconds, so the worker fetches new ones all through the
// run. It can be taken down for a window like a receiver, and it records
// whether each request came through the proxy.
type tokenServer struct {
	endpoint
	clientID, secret, scope, audience string
	prefix                            string // of the tokens issued
	ttl                               time.Duration

	mu       sync.Mutex
	issued   map[string]time.Time // token → expiry
	requests int
	refused  int // wrong client, grant, scope or audience: our worker sent it
	direct   int // requests that did not come through the proxy
	expired  int // POSTs that carried a token expired when it arrived
	examples []string
}

func startTokenServer(clientID, secret, scope, audience, prefix string, ttl time.Duration) (*tokenServer, error) {
	s := &tokenServer{clientID: clientID, secret: secret, scope: scope, audience: audience, prefix: prefix, ttl: ttl,
		issued: map[string]time.Time{}}
	s.endpoint = endpoint{name: "token endpoint", handler: http.HandlerFunc(s.serve)}
	return s, s.Up()
}

// URL is the token URL a webhook names.
func (s *tokenServer) URL() string { return "http://" + s.Addr() + "/oauth/token" }

func (s *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	id, sec, basic := r.BasicAuth()
	formErr := r.ParseForm()
	w.Header().Set("Content-Type", "application/json")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if ip := remoteIP(r); ip != proxyOut {
		s.direct++
		s.examples = addExample(s.examples, "token request from "+ip+", not through the proxy")
	}
	switch {
	case r.Method != http.MethodPost || formErr != nil:
		s.refuse(w, http.StatusBadRequest, "invalid_request", "not a form POST")
		return
	case !basic || id != s.clientID || sec != s.secret:
		s.refuse(w, http.StatusUnauthorized, "invalid_client", "wrong client credentials")
		return
	case r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != s.scope ||
		r.PostForm.Get("audience") != s.audience:
		s.refuse(w, http.StatusBadRequest, "invalid_scope", fmt.Sprintf("grant %q scope %q audience %q",
			r.PostForm.Get("grant_type"), r.PostForm.Get("scope"), r.PostForm.Get("audience")))
		return
	}
	tok := fmt.Sprintf("%s-%d", s.prefix, len(s.issued)+1)
	s.issued[tok] = time.Now().Add(s.ttl)
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer",
		"expires_in": int(s.ttl / time.Second)})
}

func (s *tokenServer) refuse(w http.ResponseWriter, status int, code, why string) {
	s.refused++
	s.examples = addExample(s.examples, "refused: "+why)
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"error":%q}`, code)
}

// checkBearer is the oauth2 receiver's check of a POST: it must carry a
// token this endpoint issued. One that expired before it arrived is
// counted (the worker renews a token at half its lifetime), not refused:
// a receiver's 401 makes the worker send the request again within the
// attempt, which the fault suite's check would count as a POST the log
// does not account for.
func (s *tokenServer) checkBearer(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, issued := s.issued[tok]
	switch {
	case !ok || !issued:
		return "the Authorization header holds no token the endpoint issued"
	case time.Now().After(exp):
		s.expired++
	}
	return ""
}

// tokenStats is what the token endpoint saw.
type tokenStats struct {
	Requests int      `json:"requests"`
	Issued   int      `json:"tokensIssued"`
	Refused  int      `json:"refused"`
	Direct   int      `json:"notThroughProxy"`
	Expired  int      `json:"postsWithAnExpiredToken"`
	Examples []string `json:"examples,omitempty"`
}

func (s *tokenServer) stats() tokenStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tokenStats{Requests: s.requests, Issued: len(s.issued), Refused: s.refused, Direct: s.direct,
		Expired: s.expired, Examples: append([]string(nil), s.examples...)}
}

// tokens is every token issued.
func (s *tokenServer) tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.issued))
	for t := range s.issued {
		out = append(out, t)
	}
	return out
}

// remoteIP is the address a request came from.
func remoteIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}
