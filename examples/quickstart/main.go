// Quickstart drives a Hangar server with the official Go SDK: it creates
// an agent with the built-in tools, an environment and a session, opens the
// session's event stream, sends a message whose "tool:" line makes the demo
// model (hangar serve --demo-model) call bash, and prints the events until
// the session is idle.
//
//	export ANTHROPIC_BASE_URL=http://127.0.0.1:8420 ANTHROPIC_API_KEY=<the key>
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

func main() {
	ctx := context.Background()
	// NewClient reads ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY, and sends
	// the anthropic-version and anthropic-beta headers itself.
	client := anthropic.NewClient()

	agent, err := client.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
		Name:  "quickstart",
		Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
		Tools: []anthropic.BetaAgentNewParamsToolUnion{{OfAgentToolset20260401: &anthropic.BetaManagedAgentsAgentToolset20260401Params{}}},
	})
	check(err)
	// Environment names are unique, so each run makes its own.
	env, err := client.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: fmt.Sprintf("quickstart-%d", time.Now().UnixMilli())})
	check(err)
	session, err := client.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agent.ID)},
		EnvironmentID: env.ID,
	})
	check(err)
	fmt.Println("session", session.ID)

	// Open the stream first: it carries what happens from then on.
	stream := client.Beta.Sessions.Events.StreamEvents(ctx, session.ID, anthropic.BetaSessionEventStreamParams{})
	defer stream.Close()

	_, err = client.Beta.Sessions.Events.Send(ctx, session.ID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{{OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{
			Content: []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{
				Text: `tool: bash {"command": "echo hello from the sandbox"}`,
			}}},
		}}},
	})
	check(err)

	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "agent.tool_use":
			fmt.Println(ev.Type, ev.AsAgentToolUse().Name)
		case "agent.tool_result":
			for _, c := range ev.AsAgentToolResult().Content {
				fmt.Printf("%s %q\n", ev.Type, c.Text)
			}
		case "agent.message":
			for _, c := range ev.AsAgentMessage().Content {
				fmt.Printf("%s %q\n", ev.Type, c.Text)
			}
		default:
			fmt.Println(ev.Type)
		}
		if ev.Type == "session.status_idle" {
			return
		}
	}
	check(stream.Err())
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
