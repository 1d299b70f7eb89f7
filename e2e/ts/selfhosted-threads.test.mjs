// A multiagent session in a self_hosted environment served by the
// TypeScript SDK's EnvironmentWorker: the coordinator (the demo model,
// which calls the tools named on "tool:" lines) spawns two subagents whose
// tasks are bash calls; the worker runs both at once (each waits for the
// other to start), each in a shell of the subagent's own thread, so one
// subagent's cd reaches neither the other nor the coordinator's shell.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import { betaAgentToolset20260401 } from '@anthropic-ai/sdk/tools/agent-toolset/node';

import { client, collect, environmentKey, skipReason, text, unique } from './hangar.mjs';

const rendezvous = (me, other) =>
  `mkdir -p d${me} && cd d${me} && touch ../arrived${me} && ` +
  `for n in $(seq 1 200); do [ -f ../arrived${other} ] && break; sleep 0.05; done; ` +
  `if [ -f ../arrived${other} ]; then echo met-${me}; else echo alone-${me}; fi; pwd`;

test('a multiagent self_hosted session served by the EnvironmentWorker', { skip: skipReason, timeout: 180_000 }, async () => {
  const c = client();
  const env = await c.beta.environments.create({ name: unique('ts self-hosted threads'), config: { type: 'self_hosted' } });
  const key = await environmentKey(env.id);
  const tools = [{ type: 'agent_toolset_20260401' }];
  const researcher = await c.beta.agents.create({ name: 'researcher', model: 'claude-sonnet-4-5', tools });
  const coordinator = await c.beta.agents.create({
    name: 'coordinator',
    model: 'claude-sonnet-4-5',
    tools,
    multiagent: { type: 'coordinator', agents: [{ type: 'agent', id: researcher.id }] },
  });
  const session = await c.beta.sessions.create({ agent: coordinator.id, environment_id: env.id });

  const workdir = await mkdtemp(join(tmpdir(), 'hangar-ts-threads-'));
  const stop = new AbortController();
  const worker = new Anthropic({ apiKey: key }).beta.environments.work.worker({
    environmentId: env.id,
    environmentKey: key,
    workdir,
    maxConcurrentCalls: 4,
    tools: (ctx) => betaAgentToolset20260401(ctx),
  });
  const running = worker.run(stop.signal);

  const events = collect(await c.beta.sessions.events.stream(session.id));
  try {
    const spawn = (me, other) =>
      `tool: spawn_agent ${JSON.stringify({ agent: 'researcher', message: `tool: bash ${JSON.stringify({ command: rendezvous(me, other) })}` })}`;
    await c.beta.sessions.events.send(session.id, {
      events: [{ type: 'user.message', content: [{ type: 'text', text: `${spawn(0, 1)}\n${spawn(1, 0)}` }] }],
    });
    const idle = await events.waitFor('session.status_idle', (e) => e.type === 'session.status_idle');
    assert.equal(idle.stop_reason.type, 'end_turn');
    const threads = [];
    for await (const t of c.beta.sessions.threads.list(session.id)) threads.push(t);
    assert.equal(threads.length, 3);
    const copies = events.events.filter((e) => e.type === 'agent.tool_use' && e.session_thread_id);
    assert.deepEqual(new Set(copies.map((e) => e.session_thread_id)), new Set([threads[1].id, threads[2].id]));
    const results = events.events.filter((e) => e.type === 'user.tool_result' && e.session_thread_id);
    assert.equal(results.length, 2, `results: ${JSON.stringify(results)}`);
    const received = events.events.filter((e) => e.type === 'agent.thread_message_received').map((e) => text(e.content)).join('\n');
    for (const me of [0, 1]) {
      assert.match(received, new RegExp(`met-${me}\\n${join(workdir, `d${me}`)}`), received);
    }

    // The coordinator's shell is where it started.
    const at = events.events.length;
    await c.beta.sessions.events.send(session.id, {
      events: [{ type: 'user.message', content: [{ type: 'text', text: 'tool: bash {"command":"pwd"}' }] }],
    });
    const own = await events.waitFor('the coordinator\'s result', (e) => events.events.indexOf(e) >= at && e.type === 'user.tool_result');
    assert.equal(own.session_thread_id ?? null, null);
    assert.equal(text(own.content).trim(), workdir);
  } finally {
    await events.close();
    stop.abort();
    await running;
    await rm(workdir, { recursive: true, force: true });
  }
});
