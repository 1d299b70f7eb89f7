// A self_hosted environment's session served by the TypeScript SDK's own
// EnvironmentWorker: the worker polls with an environment key minted by
// `hangar keys create --environment`, runs the bash call with the SDK's agent
// toolset on this machine, and posts the result back; the turn then ends.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';
import { betaAgentToolset20260401 } from '@anthropic-ai/sdk/tools/agent-toolset/node';

import { client, collect, environmentKey, skipReason, text, unique } from './hangar.mjs';

test('a self_hosted session served by the EnvironmentWorker', { skip: skipReason, timeout: 180_000 }, async () => {
  const c = client();
  const env = await c.beta.environments.create({ name: unique('ts self-hosted'), config: { type: 'self_hosted' } });
  assert.equal(env.config.type, 'self_hosted');
  const key = await environmentKey(env.id);
  const agent = await c.beta.agents.create({
    name: 'ts worker agent',
    model: 'claude-sonnet-4-5',
    tools: [{ type: 'agent_toolset_20260401' }],
  });
  const session = await c.beta.sessions.create({ agent: agent.id, environment_id: env.id });

  // The worker's host holds only the environment key, not an API key. This
  // is the SDK's documented way to make its EnvironmentWorker
  // (lib/environments/worker).
  const workdir = await mkdtemp(join(tmpdir(), 'hangar-ts-worker-'));
  const stop = new AbortController();
  const worker = new Anthropic({ apiKey: key }).beta.environments.work.worker({
    environmentId: env.id,
    environmentKey: key,
    workdir,
    tools: (ctx) => betaAgentToolset20260401(ctx),
  });
  const running = worker.run(stop.signal);

  const events = collect(await c.beta.sessions.events.stream(session.id));
  try {
    await c.beta.sessions.events.send(session.id, {
      events: [{ type: 'user.message', content: [{ type: 'text', text: 'tool: bash {"command":"echo from-the-ts-worker"}' }] }],
    });
    const use = await events.waitFor('agent.tool_use', (e) => e.type === 'agent.tool_use');
    assert.equal(use.name, 'bash');
    assert.deepEqual(use.input, { command: 'echo from-the-ts-worker' });
    const result = await events.waitFor('user.tool_result', (e) => e.type === 'user.tool_result');
    assert.equal(result.tool_use_id, use.id);
    assert.ok(!result.is_error, `the worker's result is an error: ${JSON.stringify(result)}`);
    assert.match(text(result.content), /from-the-ts-worker/);
    const reply = await events.waitFor('the report of the tool result', (e) => e.type === 'agent.message' && /Tool results:/.test(text(e.content)));
    assert.match(text(reply.content), /\(ok\): from-the-ts-worker/);
    const idle = await events.waitFor('session.status_idle', (e) => e.type === 'session.status_idle');
    assert.equal(idle.stop_reason.type, 'end_turn');
  } finally {
    await events.close();
    stop.abort();
    await running;
    await rm(workdir, { recursive: true, force: true });
  }

  const logged = [];
  for await (const e of c.beta.sessions.events.list(session.id)) logged.push(e);
  const result = logged.find((e) => e.type === 'user.tool_result');
  assert.ok(result, `the event list lacks user.tool_result: ${logged.map((e) => e.type).join(', ')}`);
  assert.match(text(result.content), /from-the-ts-worker/);
  assert.equal(logged.at(-1).type, 'session.status_idle');
});
