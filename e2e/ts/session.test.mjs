// A whole cloud session turn through the TypeScript SDK: the demo model
// calls bash, the server runs it in the session's sandbox, and the SDK's
// stream and list see every step.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { NotFoundError } from '@anthropic-ai/sdk';

import { client, collect, skipReason, text, unique } from './hangar.mjs';

test('a cloud session turn with the agent toolset', { skip: skipReason, timeout: 180_000 }, async () => {
  const c = client();
  const agent = await c.beta.agents.create({
    name: 'ts cloud agent',
    model: 'claude-sonnet-4-5',
    tools: [{ type: 'agent_toolset_20260401' }],
  });
  assert.match(agent.id, /^agent_/);
  assert.equal(agent.version, 1);
  assert.equal(agent.tools[0].type, 'agent_toolset_20260401');

  const envName = unique('ts cloud');
  const env = await c.beta.environments.create({ name: envName });
  assert.match(env.id, /^env_/);
  assert.equal(env.config.type, 'cloud');

  const session = await c.beta.sessions.create({ agent: agent.id, environment_id: env.id });
  assert.match(session.id, /^sesn_/);
  assert.equal(session.status, 'idle');
  assert.equal(session.agent.id, agent.id);

  const events = collect(await c.beta.sessions.events.stream(session.id));
  try {
    const sent = await c.beta.sessions.events.send(session.id, {
      events: [{ type: 'user.message', content: [{ type: 'text', text: 'tool: bash {"command":"echo hi"}' }] }],
    });
    assert.equal(sent.data.length, 1);
    assert.equal(sent.data[0].type, 'user.message');

    const use = await events.waitFor('agent.tool_use', (e) => e.type === 'agent.tool_use');
    assert.equal(use.name, 'bash');
    assert.deepEqual(use.input, { command: 'echo hi' });
    const result = await events.waitFor('agent.tool_result', (e) => e.type === 'agent.tool_result');
    assert.equal(result.tool_use_id, use.id);
    assert.equal(result.is_error, false);
    assert.match(text(result.content), /^hi\n?$/);
    // After a tool result the demo model reports it and ends the turn.
    const reply = await events.waitFor('the report of the tool result', (e) => e.type === 'agent.message' && /Tool results:/.test(text(e.content)));
    assert.match(text(reply.content), /\(ok\): hi/);
    const idle = await events.waitFor('session.status_idle', (e) => e.type === 'session.status_idle');
    assert.equal(idle.stop_reason.type, 'end_turn');
  } finally {
    await events.close();
  }

  // The log holds what the stream showed, in order, under the same ids.
  const logged = [];
  for await (const e of c.beta.sessions.events.list(session.id)) logged.push(e);
  const types = logged.map((e) => e.type);
  for (const t of ['user.message', 'agent.tool_use', 'agent.tool_result', 'agent.message', 'session.status_idle']) {
    assert.ok(types.includes(t), `the event list lacks ${t}: ${types.join(', ')}`);
  }
  for (const e of events.events.filter((e) => e.type === 'agent.tool_use' || e.type === 'agent.tool_result')) {
    assert.ok(logged.some((l) => l.id === e.id), `streamed ${e.type} ${e.id} is not in the list`);
  }
  assert.ok(types.indexOf('agent.tool_use') < types.indexOf('agent.tool_result'));
  // The SDK follows next_page on its own: small pages add up to the same log.
  const paged = [];
  for await (const e of c.beta.sessions.events.list(session.id, { limit: 2 })) paged.push(e.id);
  assert.deepEqual(paged, logged.map((e) => e.id));
  const onlyResults = [];
  for await (const e of c.beta.sessions.events.list(session.id, { types: ['agent.tool_result'] })) onlyResults.push(e);
  assert.deepEqual(onlyResults.map((e) => e.type), ['agent.tool_result']);

  const fetched = await c.beta.sessions.retrieve(session.id);
  assert.equal(fetched.status, 'idle');
  assert.equal((await c.beta.agents.retrieve(agent.id)).name, 'ts cloud agent');
  assert.equal((await c.beta.environments.retrieve(env.id)).name, envName);
  const listed = [];
  for await (const s of c.beta.sessions.list()) listed.push(s.id);
  assert.ok(listed.includes(session.id));

  const archived = await c.beta.sessions.archive(session.id);
  assert.ok(archived.archived_at, 'an archived session has archived_at');
  const deleted = await c.beta.sessions.delete(session.id);
  assert.deepEqual(deleted, { id: session.id, type: 'session_deleted' });
  await assert.rejects(c.beta.sessions.retrieve(session.id), NotFoundError);

  assert.ok((await c.beta.agents.archive(agent.id)).archived_at);
  assert.ok((await c.beta.environments.archive(env.id)).archived_at);
  assert.deepEqual(await c.beta.environments.delete(env.id), { id: env.id, type: 'environment_deleted' });
  await assert.rejects(c.beta.environments.retrieve(env.id), NotFoundError);
});
