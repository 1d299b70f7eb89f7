package e2e

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/hangarhq/hangar/internal/testserver"
)

// Every list endpoint reads the shared list parameters the same way: a bad
// value is a 400 naming the parameter, also on a list that has nothing to
// filter by it, and a good one is accepted everywhere.
func TestListParametersOneRule(t *testing.T) {
	s := testserver.Start(t)
	c := s.Client("")
	ctx := context.Background()
	agent, err := c.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{Name: "a", Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-x"}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := c.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "lists"})
	if err != nil {
		t.Fatal(err)
	}
	vault, err := c.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "v"})
	if err != nil {
		t.Fatal(err)
	}
	skill := newSkill(t, c, anthropic.BetaSkillNewParams{Files: skillParts("lister/SKILL.md", skillMD("lister", "Lists things."))})
	sess, err := c.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)}, EnvironmentID: env.ID})
	if err != nil {
		t.Fatal(err)
	}
	lists := []string{
		"/v1/agents",
		"/v1/agents/" + agent.ID + "/versions",
		"/v1/environments",
		"/v1/environments/" + env.ID + "/work",
		"/v1/vaults",
		"/v1/vaults/" + vault.ID + "/credentials",
		"/v1/files",
		"/v1/skills",
		"/v1/skills/" + skill.ID + "/versions",
		"/v1/sessions",
		"/v1/sessions/" + sess.ID + "/events",
		"/v1/sessions/" + sess.ID + "/resources",
	}
	bad := []struct{ query, param string }{
		{"limit=ten", "limit"},
		{"limit=0", "limit"},
		{"limit=100000", "limit"},
		{"order=up", "order"},
		{"page=nonsense", "page"},
		{"include_archived=maybe", "include_archived"},
		{"created_at%5Bgte%5D=notadate", "created_at[gte]"},
		{"created_at%5Bgt%5D=2026-13-01", "created_at[gt]"},
		{"created_at%5Blt%5D=yesterday", "created_at[lt]"},
		{"created_at%5Blte%5D=1", "created_at[lte]"},
	}
	good := "limit=5&order=desc&include_archived=true&created_at%5Bgte%5D=2020-01-02T03:04:05Z&created_at%5Blt%5D=2999-01-01T00:00:00.5Z&beta=true"
	for _, path := range lists {
		t.Run(strings.TrimPrefix(path, "/v1/"), func(t *testing.T) {
			for _, b := range bad {
				resp := s.Do(t, "GET", path+"?"+b.query, nil, nil)
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 400 || !strings.Contains(string(body), `"message":"`+b.param+": ") {
					t.Errorf("GET %s?%s: %d %s; want 400 naming %s", path, b.query, resp.StatusCode, body, b.param)
				}
			}
			resp := s.Do(t, "GET", path+"?"+good, nil, nil)
			if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 {
				t.Errorf("GET %s?%s: %d %s", path, good, resp.StatusCode, body)
			}
		})
	}
}
