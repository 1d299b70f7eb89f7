// Shared by the tests: the client for the server under test, and a
// collector over a session's event stream.
//
// The server comes from the environment, as for any SDK user:
// ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY (an administrator key of a
// `hangar serve --demo-model`). HANGAR_BIN and HANGAR_DATA_DIR (the server's
// binary and data directory) let a test mint environment keys with
// `hangar keys create`. The Go wrapper (e2e/typescript_test.go) sets all
// four.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';

import Anthropic from '@anthropic-ai/sdk';

// Without ANTHROPIC_BASE_URL the SDK would talk to the real Anthropic API.
export const skipReason = process.env.ANTHROPIC_BASE_URL ? false : 'ANTHROPIC_BASE_URL is not set (run through go test ./e2e -run TestTypeScriptSDK)';

// client is an SDK client for the server under test. Retries are off so a
// test sees every response as it was sent.
export function client() {
  return new Anthropic({ maxRetries: 0 });
}

// environmentKey mints a key for environmentId's work queue with the CLI,
// the way an operator gives one to a self-hosted worker.
export async function environmentKey(environmentId) {
  const { HANGAR_BIN, HANGAR_DATA_DIR } = process.env;
  if (!HANGAR_BIN || !HANGAR_DATA_DIR) {
    throw new Error('HANGAR_BIN and HANGAR_DATA_DIR must name the server binary and its data directory');
  }
  const { stdout } = await promisify(execFile)(HANGAR_BIN, [
    'keys', 'create', '--data-dir', HANGAR_DATA_DIR, '--name', 'ts-worker', '--environment', environmentId,
  ]);
  return stdout.trim();
}

// collect reads a session's event stream in the background. waitFor resolves
// with the first event (seen so far or still to come) that matches, and
// rejects when the stream ends without one, so a missing event fails the test
// instead of hanging it (node --test's timeout is the last resort).
export function collect(stream) {
  const events = [];
  const waiters = new Set();
  let closed = false;
  let ended = null;
  const wake = () => {
    for (const w of waiters) w();
  };
  const done = (async () => {
    try {
      for await (const event of stream) {
        events.push(event);
        wake();
      }
      ended = new Error('the event stream ended');
    } catch (err) {
      ended = closed ? new Error('the event stream was closed') : err;
    }
    wake();
  })();
  return {
    events,
    waitFor(what, match) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (found) {
            waiters.delete(check);
            resolve(found);
          } else if (ended) {
            waiters.delete(check);
            reject(new Error(`waiting for ${what}: ${ended.message}; got ${events.map((e) => e.type).join(', ')}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    async close() {
      closed = true;
      stream.controller.abort();
      await done;
    },
  };
}

// text joins the text blocks of an event's content (strings pass through).
export function text(content) {
  if (typeof content === 'string') return content;
  return (content ?? []).map((b) => (b.type === 'text' ? b.text : '')).join('');
}

// unique makes a name no earlier run against the same server has used
// (environment names are unique in a workspace).
export function unique(name) {
  return `${name} ${randomUUID().slice(0, 8)}`;
}
