package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/auth/token" // also registers the "token" access controller
)

// The names the token server and the registry agree on.
const (
	// TokenService is the "service" of the registry's Bearer challenge and
	// the audience of the tokens.
	TokenService = "hull-testutil-registry"
	// TokenIssuer is the issuer of the tokens.
	TokenIssuer = "hull-testutil-token"
	// tokenTTL is how long a token is valid.
	tokenTTL = 5 * time.Minute
)

// WithTokenAuth makes the registry demand bearer tokens, as Docker Hub,
// GHCR and Harbor do. A token server on its own port of 127.0.0.1 (its URL
// is Registry.TokenRealm) checks user and password, given with HTTP basic
// auth (GET, the docker flow) or as an OAuth2 password grant (POST), and
// issues JWTs (ES256, signed with a key made for the test) granting every
// scope asked for. The registry checks them with distribution's "token"
// access controller, which trusts a self-signed certificate of that key
// written to t.TempDir(). Requests without credentials, or with wrong ones,
// get a 401 from the token server. Default: no auth. Of WithBasicAuth and
// WithTokenAuth, the last one given wins.
func WithTokenAuth(user, password string) RegistryOption {
	return func(c *registryConfig) { c.user, c.password, c.token = user, password, true }
}

// tokenServer issues registry tokens to one user.
type tokenServer struct {
	user, password string
	key            *ecdsa.PrivateKey
	kid            string // the key's JWK thumbprint, which distribution looks keys up by
}

// startTokenServer starts a token server for the duration of t and
// returns the registry's auth configuration and the server's realm URL.
func startTokenServer(t testing.TB, user, password string) (configuration.Auth, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("token key: %v", err)
	}
	bundle := writeTokenCert(t, key)
	ts := &tokenServer{user: user, password: password, key: key, kid: token.GetJWKThumbprint(&key.PublicKey)}
	srv := httptest.NewServer(ts)
	t.Cleanup(srv.Close)
	realm := srv.URL + "/token"
	return configuration.Auth{"token": configuration.Parameters{
		"realm":          realm,
		"service":        TokenService,
		"issuer":         TokenIssuer,
		"rootcertbundle": bundle,
	}}, realm
}

// writeTokenCert writes a self-signed certificate of key's public half,
// the registry's trust root for tokens, and returns its path.
func writeTokenCert(t testing.TB, key *ecdsa.PrivateKey) string {
	t.Helper()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: TokenIssuer},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("token certificate: %v", err)
	}
	path := filepath.Join(t.TempDir(), "token-root.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatalf("write token certificate: %v", err)
	}
	return path
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" {
		http.NotFound(w, r)
		return
	}
	var user, password, service string
	var ok bool
	var scopes []string
	oauth := r.Method == http.MethodPost
	switch {
	case r.Method == http.MethodGet:
		user, password, ok = r.BasicAuth()
		service = r.URL.Query().Get("service")
		for _, s := range r.URL.Query()["scope"] {
			scopes = append(scopes, strings.Fields(s)...)
		}
	case oauth:
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "password" {
			tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only the password grant is supported")
			return
		}
		user, password = r.PostForm.Get("username"), r.PostForm.Get("password")
		ok = user != ""
		service = r.PostForm.Get("service")
		scopes = strings.Fields(r.PostForm.Get("scope"))
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if service != TokenService {
		tokenError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("unknown service %q", service))
		return
	}
	if !ok || !ts.valid(user, password) {
		w.Header().Set("WWW-Authenticate", `Basic realm="hull-testutil-token"`)
		tokenError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return
	}
	access, err := parseScopes(scopes)
	if err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_scope", err.Error())
		return
	}
	now := time.Now()
	jwt, err := ts.sign(token.ClaimSet{
		Issuer:     TokenIssuer,
		Subject:    user,
		Audience:   token.AudienceList{TokenService},
		Expiration: now.Add(tokenTTL).Unix(),
		NotBefore:  now.Add(-time.Second).Unix(),
		IssuedAt:   now.Unix(),
		JWTID:      rand.Text(),
		Access:     access,
	})
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	reply := map[string]any{
		"token":        jwt,
		"access_token": jwt,
		"expires_in":   int(tokenTTL.Seconds()),
		"issued_at":    now.UTC().Format(time.RFC3339),
	}
	if oauth {
		reply["scope"] = strings.Join(scopes, " ")
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}

func (ts *tokenServer) valid(user, password string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(ts.user))
	p := subtle.ConstantTimeCompare([]byte(password), []byte(ts.password))
	return u&p == 1
}

// parseScopes turns "type[(class)]:name:action,action" scopes into the
// access claim, granting each as asked. The name may itself hold colons
// ("registry:catalog:*" has none, but a name with a port would).
func parseScopes(scopes []string) ([]*token.ResourceActions, error) {
	access := []*token.ResourceActions{}
	for _, s := range scopes {
		typ, rest, ok1 := strings.Cut(s, ":")
		i := strings.LastIndex(rest, ":")
		if !ok1 || i <= 0 || typ == "" {
			return nil, fmt.Errorf("malformed scope %q", s)
		}
		ra := &token.ResourceActions{Type: typ, Name: rest[:i], Actions: strings.Split(rest[i+1:], ",")}
		if t, class, ok := strings.Cut(typ, "("); ok && strings.HasSuffix(class, ")") {
			ra.Type, ra.Class = t, strings.TrimSuffix(class, ")")
		}
		access = append(access, ra)
	}
	return access, nil
}

// sign makes a compact JWS of claims with ES256, naming the key by its
// thumbprint in "kid" (distribution's controller finds trusted keys so).
func (ts *tokenServer) sign(claims token.ClaimSet) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": ts.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		return "", err
	}
	// JWS wants R and S as fixed-size big-endian integers, not ASN.1.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig), nil
}

// tokenError writes an error reply in the registry's JSON error format,
// which clients (oras, docker) parse for token servers too.
func tokenError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]string{{"code": code, "message": msg}},
	})
}
