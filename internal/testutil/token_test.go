package testutil

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// fetchToken asks reg's token server for a token with scopes, as the
// docker flow does (GET with basic auth); it returns the status and token.
func fetchToken(t *testing.T, reg *Registry, user, password string, scopes ...string) (int, string) {
	t.Helper()
	q := url.Values{"service": {TokenService}, "scope": scopes}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, reg.TokenRealm+"?"+q.Encode(), nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if body.Token == "" || body.Token != body.AccessToken {
			t.Fatalf("token reply: token %q, access_token %q", body.Token, body.AccessToken)
		}
	}
	return resp.StatusCode, body.Token
}

// get does a GET on the registry with a bearer token and returns the status.
func get(t *testing.T, reg *Registry, path, tok string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, reg.URL+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestTokenAuth(t *testing.T) {
	t.Parallel()
	reg := StartRegistry(t, WithTokenAuth("alice", "s3cret"))
	if reg.TokenRealm == "" || !strings.HasPrefix(reg.TokenRealm, "http://127.0.0.1:") {
		t.Fatalf("TokenRealm = %q", reg.TokenRealm)
	}
	// Push and pull back through oras' bearer flow.
	p := reg.Push(t, "private/app:v1", Image{Layers: []Layer{{Files: []File{{Name: "hello", Body: []byte("hi")}}}}})
	checkPulled(t, reg, "private/app", "v1", p)

	t.Run("challenge", func(t *testing.T) {
		resp := get(t, reg, "/v2/", "")
		want := `Bearer realm="` + reg.TokenRealm + `",service="` + TokenService + `"`
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != want {
			t.Fatalf("GET /v2/: %s, challenge %q, want %q", resp.Status, resp.Header.Get("WWW-Authenticate"), want)
		}
	})
	t.Run("credentials", func(t *testing.T) {
		for _, tc := range []struct {
			user, password string
			want           int
		}{
			{"alice", "s3cret", http.StatusOK},
			{"alice", "nope", http.StatusUnauthorized},
			{"bob", "s3cret", http.StatusUnauthorized},
			{"", "", http.StatusUnauthorized},
		} {
			if got, _ := fetchToken(t, reg, tc.user, tc.password); got != tc.want {
				t.Errorf("token for %q/%q: HTTP %d, want %d", tc.user, tc.password, got, tc.want)
			}
		}
	})
	t.Run("scope", func(t *testing.T) {
		_, tok := fetchToken(t, reg, "alice", "s3cret", "repository:private/app:pull")
		if resp := get(t, reg, "/v2/", tok); resp.StatusCode != http.StatusOK {
			t.Errorf("GET /v2/ with a token: %s", resp.Status)
		}
		if resp := get(t, reg, "/v2/private/app/tags/list", tok); resp.StatusCode != http.StatusOK {
			t.Errorf("tags of the granted repository: %s", resp.Status)
		}
		resp := get(t, reg, "/v2/other/app/tags/list", tok)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Errorf("tags of another repository: %s, %q; want insufficient_scope", resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
		// Pull access does not allow an upload.
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, reg.URL+"/v2/private/app/blobs/uploads/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("upload with a pull token: %s", r.Status)
		}
		// A token signed by another key is refused.
		forged := tok[:strings.LastIndex(tok, ".")+1] + strings.Repeat("A", 86)
		if resp := get(t, reg, "/v2/private/app/tags/list", forged); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("forged token: %s", resp.Status)
		}
	})
	t.Run("oauth2", func(t *testing.T) {
		client := &auth.Client{Client: &http.Client{}, ForceAttemptOAuth2: true,
			Credential: auth.StaticCredential(reg.Host, auth.Credential{Username: "alice", Password: "s3cret"})}
		repo := reg.Repository(t, "private/app")
		repo.Client = client
		if _, err := repo.Resolve(t.Context(), "v1"); err != nil {
			t.Fatalf("resolve with an OAuth2 password grant: %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		repo := reg.Repository(t, "private/app")
		repo.Client = &auth.Client{Client: &http.Client{},
			Credential: auth.StaticCredential(reg.Host, auth.Credential{Username: "alice", Password: "nope"})}
		_, err := repo.Resolve(t.Context(), "v1")
		var er *errcode.ErrorResponse
		if !errors.As(err, &er) || er.StatusCode != http.StatusUnauthorized {
			t.Fatalf("resolve: %v, want a 401", err)
		}
	})
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	got, err := parseScopes([]string{"repository:a/b:pull,push", "repository(plugin):c:pull", "registry:catalog:*"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"repository//a/b/pull,push", "repository/plugin/c/pull", "registry//catalog/*"}
	for i, ra := range got {
		s := ra.Type + "/" + ra.Class + "/" + ra.Name + "/" + strings.Join(ra.Actions, ",")
		if s != want[i] {
			t.Errorf("scope %d = %s, want %s", i, s, want[i])
		}
	}
	for _, bad := range []string{"repository", "repository:x", ":x:pull"} {
		if _, err := parseScopes([]string{bad}); err == nil {
			t.Errorf("parseScopes(%q) accepted", bad)
		}
	}
}
