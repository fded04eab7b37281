package resource

import "github.com/esign-webhooks/esign-webhooks/internal/db"

// Header is a custom header of a webhook: a secret one shows its name
// only (Secret true, no Value).
type Header struct {
	Name   string  `json:"name"`
	Value  *string `json:"value,omitempty"`
	Secret bool    `json:"secret"`
}

// Auth is how the receiver authenticates our requests, without its
// secret: Type none, basic (Username), bearer, or oauth2 (TokenURL,
// ClientID, Scopes, Audience).
type Auth struct {
	Type     string   `json:"type"`
	Username string   `json:"username,omitempty"`
	TokenURL string   `json:"tokenUrl,omitempty"`
	ClientID string   `json:"clientId,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	Audience string   `json:"audience,omitempty"`
}

// fromReceiver shows a webhook's receiver options, never a secret: a
// secret header keeps its name, the authentication its public part.
func fromReceiver(r db.Receiver) ([]Header, Auth) {
	hs := make([]Header, 0, len(r.Headers))
	for _, h := range r.Headers {
		out := Header{Name: h.Name, Secret: h.Secret}
		if !h.Secret {
			v := h.Value
			out.Value = &v
		}
		hs = append(hs, out)
	}
	typ := r.AuthType
	if typ == "" {
		typ = db.AuthNone
	}
	p := r.AuthParams
	return hs, Auth{Type: typ, Username: p.Username, TokenURL: p.TokenURL, ClientID: p.ClientID, Scopes: p.Scopes,
		Audience: p.Audience}
}
