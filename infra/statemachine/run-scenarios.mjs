// run-scenarios.mjs executes the state machine definition with
// aws-local-stepfunctions on scripted scenarios and prints one trace per
// scenario as JSON on stdout. It judges nothing: the Go test
// (infra/definition_test.go, package internal/scenario) compares the traces
// with the expectations in scenarios.json, so any other engine (the local
// lab's) can be compared the same way.
//
// Usage: node run-scenarios.mjs <definition.json> <resolved-scenarios.json>
//
// The resolved scenarios file is written by internal/scenario: fixtures
// already expanded, DefinitionSubstitutions given as fake ARNs.

import { readFileSync } from 'node:fs';

// NOTE: aws-local-stepfunctions 3.0.0 calls Promise.withResolvers, which
// Node only has from 22 on (AWS-FACTS.md: polyfill it on Node 20). It must
// exist before the library runs, hence the dynamic import below.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
const { StateMachine } = await import('aws-local-stepfunctions');

const [definitionPath, scenariosPath] = process.argv.slice(2);
if (!definitionPath || !scenariosPath) {
  console.error('usage: node run-scenarios.mjs <definition.json> <resolved-scenarios.json>');
  process.exit(2);
}

const resolved = JSON.parse(readFileSync(scenariosPath, 'utf8'));
const substitutions = resolved.substitutions ?? {};

// Apply DefinitionSubstitutions the way CloudFormation does: textual
// replacement of ${Name} in the definition.
let text = readFileSync(definitionPath, 'utf8');
text = text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (m, name) => (name in substitutions ? substitutions[name] : m));
const definition = JSON.parse(text);

// Every Wait and every Retry pause lasts 0 ms: the scenarios are about the
// path taken, not about time. The seconds each Wait would have lasted are
// recorded in the trace instead.
const waitTimeOverrides = {};
const retryIntervalOverrides = {};
for (const [name, state] of Object.entries(definition.States)) {
  if (state.Type === 'Wait') waitTimeOverrides[name] = 0;
  if (state.Retry) retryIntervalOverrides[name] = 0;
}

// Reads a simple reference path ($.a.b) from a JSON value.
function readPath(value, path) {
  if (path === '$') return value;
  let cur = value;
  for (const key of path.replace(/^\$\./, '').split('.')) {
    if (cur === null || typeof cur !== 'object' || !(key in cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

async function run(scenario) {
  const trace = { name: scenario.name, states: [], calls: [], waits: [], status: '', error: '', cause: '', output: null };
  const scripts = {};
  for (const [state, calls] of Object.entries(scenario.tasks ?? {})) scripts[state] = [...calls];

  const taskResourceLocalHandlers = {};
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Type !== 'Task') continue;
    taskResourceLocalHandlers[name] = (input) => {
      trace.calls.push({ state: name, function: input?.FunctionName ?? '', payload: input?.Payload ?? null });
      const next = scripts[name]?.shift();
      if (!next) {
        const e = new Error(`scenario has no scripted answer for call ${trace.calls.filter((c) => c.state === name).length} of ${name}`);
        e.name = 'ScenarioUnscripted';
        throw e;
      }
      if (next.throws) {
        const e = new Error(next.throws.cause ?? '');
        e.name = next.throws.error;
        throw e;
      }
      // The optimized Lambda integration wraps the function's output.
      return { ExecutedVersion: '$LATEST', Payload: next.returns, StatusCode: 200 };
    };
  }

  const machine = new StateMachine(definition);
  const execution = machine.run(scenario.input, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context: { Execution: { ...resolved.execution, Input: scenario.input, StartTime: '2026-11-27T10:00:00Z' } },
  });
  const events = (async () => {
    for await (const ev of execution.eventLogs) {
      if (ev.type === 'StateEntered') {
        trace.states.push(ev.state.name);
        const def = definition.States[ev.state.name];
        if (def.Type === 'Wait') {
          const seconds = def.SecondsPath ? readPath(ev.state.input, def.SecondsPath) : def.Seconds;
          trace.waits.push({ state: ev.state.name, seconds });
        }
      } else if (ev.type === 'ExecutionFailed') {
        trace.status = 'FAILED';
        trace.error = ev.Error;
        trace.cause = typeof ev.Cause === 'string' ? ev.Cause : JSON.stringify(ev.Cause ?? '');
      } else if (ev.type === 'ExecutionSucceeded') {
        trace.status = 'SUCCEEDED';
        trace.output = ev.output;
      }
    }
  })();
  try {
    await execution.result;
  } catch (err) {
    if (!trace.status) {
      trace.status = 'FAILED';
      trace.error = err?.name ?? 'Error';
      trace.cause = err?.message ?? String(err);
    }
  }
  await events;
  return trace;
}

const traces = [];
for (const scenario of resolved.scenarios) traces.push(await run(scenario));
process.stdout.write(JSON.stringify(traces, null, 2) + '\n');
