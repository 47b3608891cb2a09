// Service config validation (service_config.md, gRFC A2, A6, A21), method
// config lookup, and choosing a config from a DNS TXT record.
import { hostname } from 'node:os';
import test from 'ava';
import { Status } from '../ts/constants';
import {
  chooseServiceConfig,
  extractAndSelectServiceConfig,
  getLoadBalancingConfigList,
  getMethodConfig,
  validateRetryThrottling,
  validateServiceConfig,
  type ServiceConfig,
} from '../ts/service-config';

const RETRY = {
  maxAttempts: 3,
  initialBackoff: '0.1s',
  maxBackoff: '1s',
  backoffMultiplier: 2,
  retryableStatusCodes: ['UNAVAILABLE'],
};

function withMethod(methodConfig: Record<string, unknown>): unknown {
  return { methodConfig: [{ name: [{ service: 'pkg.Svc' }], ...methodConfig }] };
}

function invalid(t: import('ava').ExecutionContext, config: unknown, message: RegExp): void {
  t.throws(() => validateServiceConfig(config), { message });
}

test('an empty config is valid and uses the default policy', (t) => {
  const config = validateServiceConfig({});
  t.deepEqual(config, { loadBalancingConfig: [], methodConfig: [] });
  t.deepEqual(getLoadBalancingConfigList(config), []);
});

test('the config must be an object', (t) => {
  invalid(t, null, /service config: expected an object, got null/);
  invalid(t, [], /expected an object, got an array/);
  invalid(t, 'x', /expected an object/);
});

test('unknown fields are ignored', (t) => {
  t.notThrows(() => validateServiceConfig({ healthCheckConfig: { serviceName: 'x' }, future: 1 }));
});

test('loadBalancingConfig: a list of single-key objects', (t) => {
  const config = validateServiceConfig({
    loadBalancingConfig: [{ round_robin: {} }, { pick_first: { shuffleAddressList: true } }],
  });
  t.deepEqual(config.loadBalancingConfig, [
    { round_robin: {} },
    { pick_first: { shuffleAddressList: true } },
  ]);
  invalid(t, { loadBalancingConfig: {} }, /loadBalancingConfig: expected an array/);
  invalid(t, { loadBalancingConfig: [{}] }, /loadBalancingConfig\[0\]: expected exactly one/);
  invalid(
    t,
    { loadBalancingConfig: [{ round_robin: {}, pick_first: {} }] },
    /loadBalancingConfig\[0\]: expected exactly one policy name, got 2/,
  );
  invalid(
    t,
    { loadBalancingConfig: [{ round_robin: 1 }] },
    /loadBalancingConfig\[0\]\.round_robin/,
  );
  invalid(t, { loadBalancingConfig: [{ weird: {} }] }, /no supported and valid policy among weird/);
});

test('loadBalancingPolicy: deprecated string, lowercased, overridden by the list', (t) => {
  const config = validateServiceConfig({ loadBalancingPolicy: 'ROUND_ROBIN' });
  t.is(config.loadBalancingPolicy, 'round_robin');
  t.deepEqual(getLoadBalancingConfigList(config), [{ round_robin: {} }]);
  const both = validateServiceConfig({
    loadBalancingPolicy: 'round_robin',
    loadBalancingConfig: [{ pick_first: {} }],
  });
  t.deepEqual(getLoadBalancingConfigList(both), [{ pick_first: {} }]);
  invalid(t, { loadBalancingPolicy: 3 }, /loadBalancingPolicy: expected a string/);
  invalid(t, { loadBalancingPolicy: 'grpclb' }, /loadBalancingPolicy: unknown policy grpclb/);
});

test('method names: method requires service, empty strings mean unset', (t) => {
  const config = validateServiceConfig({
    methodConfig: [
      { name: [{ service: 'a.A', method: 'M' }] },
      { name: [{ service: 'a.A', method: '' }] },
      { name: [{ service: '', method: '' }] },
    ],
  });
  t.deepEqual(
    config.methodConfig.map((m) => m.name),
    [[{ service: 'a.A', method: 'M' }], [{ service: 'a.A' }], [{}]],
  );
  invalid(
    t,
    { methodConfig: [{ name: [{ method: 'M' }] }] },
    /name\[0\]\.method: a method requires a service/,
  );
  invalid(
    t,
    { methodConfig: [{ name: [{ service: 1 }] }] },
    /name\[0\]\.service: expected a string/,
  );
  invalid(t, { methodConfig: [{}] }, /methodConfig\[0\]\.name: expected an array/);
  invalid(t, { methodConfig: {} }, /methodConfig: expected an array/);
});

test('at most one method config per name', (t) => {
  invalid(
    t,
    {
      methodConfig: [
        { name: [{ service: 'a.A', method: 'M' }] },
        { name: [{ service: 'b.B' }, { service: 'a.A', method: 'M' }] },
      ],
    },
    /methodConfig\[1\]\.name: duplicate name a\.A\/M/,
  );
  invalid(t, { methodConfig: [{ name: [{}] }, { name: [{ service: '' }] }] }, /duplicate name \//);
  t.notThrows(() =>
    validateServiceConfig({
      methodConfig: [{ name: [{ service: 'a.A' }] }, { name: [{ service: 'a.A', method: 'M' }] }],
    }),
  );
});

test('timeout: a proto duration string (or {seconds, nanos})', (t) => {
  const parsed = validateServiceConfig(withMethod({ timeout: '1.5s' }));
  t.deepEqual(parsed.methodConfig[0].timeout, { seconds: 1, nanos: 500_000_000 });
  const whole = validateServiceConfig(withMethod({ timeout: '10s' }));
  t.deepEqual(whole.methodConfig[0].timeout, { seconds: 10, nanos: 0 });
  const object = validateServiceConfig(withMethod({ timeout: { seconds: 2, nanos: 5 } }));
  t.deepEqual(object.methodConfig[0].timeout, { seconds: 2, nanos: 5 });
  for (const bad of ['1.5', '-1s', '1.5ms', 's', 1.5, '1.1234567891s']) {
    invalid(
      t,
      withMethod({ timeout: bad }),
      /methodConfig\[0\]\.timeout: expected a duration string/,
    );
  }
});

test('waitForReady: a boolean', (t) => {
  t.true(validateServiceConfig(withMethod({ waitForReady: true })).methodConfig[0].waitForReady);
  invalid(t, withMethod({ waitForReady: 'true' }), /waitForReady: expected a boolean/);
});

test('message size limits: non-negative integers or numeric strings', (t) => {
  const config = validateServiceConfig(
    withMethod({ maxRequestMessageBytes: 1024, maxResponseMessageBytes: '4194304' }),
  );
  t.is(config.methodConfig[0].maxRequestMessageBytes, 1024);
  t.is(config.methodConfig[0].maxResponseMessageBytes, 4194304);
  t.is(
    validateServiceConfig(withMethod({ maxRequestMessageBytes: 0 })).methodConfig[0]
      .maxRequestMessageBytes,
    0,
  );
  // grpc-js's spelling is accepted too.
  t.is(
    validateServiceConfig(withMethod({ maxResponseBytes: 7 })).methodConfig[0]
      .maxResponseMessageBytes,
    7,
  );
  invalid(
    t,
    withMethod({ maxRequestMessageBytes: -1 }),
    /maxRequestMessageBytes: expected a non-negative/,
  );
  invalid(t, withMethod({ maxResponseMessageBytes: '1e3' }), /maxResponseMessageBytes/);
  invalid(t, withMethod({ maxResponseMessageBytes: 1.5 }), /maxResponseMessageBytes/);
  invalid(t, withMethod({ maxRequestBytes: true }), /maxRequestBytes/);
});

test('retryPolicy: a valid policy is normalized', (t) => {
  const config = validateServiceConfig(
    withMethod({
      retryPolicy: { ...RETRY, maxAttempts: 9, retryableStatusCodes: ['unavailable', 4] },
    }),
  );
  t.deepEqual(config.methodConfig[0].retryPolicy, {
    maxAttempts: 5,
    initialBackoff: '0.1s',
    maxBackoff: '1s',
    backoffMultiplier: 2,
    retryableStatusCodes: [Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED],
  });
});

test('retryPolicy: each field is checked', (t) => {
  const bad = (change: Record<string, unknown>, message: RegExp) =>
    invalid(t, withMethod({ retryPolicy: { ...RETRY, ...change } }), message);
  bad({ maxAttempts: 1 }, /retryPolicy\.maxAttempts: expected an integer of at least 2/);
  bad({ maxAttempts: 2.5 }, /maxAttempts/);
  bad({ maxAttempts: undefined }, /maxAttempts/);
  bad({ initialBackoff: '0s' }, /retryPolicy\.initialBackoff: must be greater than 0/);
  bad({ initialBackoff: '100ms' }, /initialBackoff: expected a duration string/);
  bad({ maxBackoff: '0.000s' }, /maxBackoff: must be greater than 0/);
  bad({ maxBackoff: undefined }, /maxBackoff/);
  bad({ backoffMultiplier: 0 }, /backoffMultiplier: expected a number > 0/);
  bad({ backoffMultiplier: '2' }, /backoffMultiplier/);
  bad({ retryableStatusCodes: [] }, /retryableStatusCodes: must not be empty/);
  bad({ retryableStatusCodes: undefined }, /retryableStatusCodes: is required/);
  bad(
    { retryableStatusCodes: ['NOT_A_CODE'] },
    /retryableStatusCodes\[0\]: "NOT_A_CODE" is not a status code name/,
  );
  bad({ retryableStatusCodes: [17] }, /retryableStatusCodes\[0\]: 17 is not a status code/);
  bad({ retryableStatusCodes: [true] }, /retryableStatusCodes\[0\]: expected a status code/);
  invalid(t, withMethod({ retryPolicy: 'x' }), /retryPolicy: expected an object/);
});

test('hedgingPolicy: validated, and exclusive with retryPolicy', (t) => {
  const config = validateServiceConfig(
    withMethod({
      hedgingPolicy: { maxAttempts: 7, hedgingDelay: '0s', nonFatalStatusCodes: ['UNAVAILABLE'] },
    }),
  );
  t.deepEqual(config.methodConfig[0].hedgingPolicy, {
    maxAttempts: 5,
    hedgingDelay: '0s',
    nonFatalStatusCodes: [Status.UNAVAILABLE],
  });
  invalid(t, withMethod({ hedgingPolicy: { maxAttempts: 1 } }), /hedgingPolicy\.maxAttempts/);
  invalid(t, withMethod({ hedgingPolicy: { maxAttempts: 2, hedgingDelay: '1' } }), /hedgingDelay/);
  invalid(
    t,
    withMethod({ retryPolicy: RETRY, hedgingPolicy: { maxAttempts: 2 } }),
    /retryPolicy and hedgingPolicy cannot both be set/,
  );
});

test('retryThrottling: maxTokens in (0, 1000], tokenRatio > 0, 3 decimals', (t) => {
  t.deepEqual(
    validateServiceConfig({ retryThrottling: { maxTokens: 10, tokenRatio: 0.12345 } })
      .retryThrottling,
    {
      maxTokens: 10,
      tokenRatio: 0.123,
    },
  );
  t.deepEqual(validateRetryThrottling({ maxTokens: 1000, tokenRatio: 1 }), {
    maxTokens: 1000,
    tokenRatio: 1,
  });
  for (const maxTokens of [0, 1001, -1, '10']) {
    invalid(
      t,
      { retryThrottling: { maxTokens, tokenRatio: 1 } },
      /retryThrottling\.maxTokens: expected a number in \(0, 1000\]/,
    );
  }
  for (const tokenRatio of [0, -0.5, undefined]) {
    invalid(t, { retryThrottling: { maxTokens: 10, tokenRatio } }, /retryThrottling\.tokenRatio/);
  }
});

test('getMethodConfig: exact method, then service, then default', (t) => {
  const config: ServiceConfig = validateServiceConfig({
    methodConfig: [
      { name: [{}], timeout: '1s' },
      { name: [{ service: 'pkg.Svc' }], timeout: '2s' },
      {
        name: [
          { service: 'pkg.Svc', method: 'Exact' },
          { service: 'other.O', method: 'X' },
        ],
        timeout: '3s',
      },
    ],
  });
  const timeout = (path: string) => getMethodConfig(config, path)?.timeout?.seconds;
  t.is(timeout('/pkg.Svc/Exact'), 3);
  t.is(timeout('/other.O/X'), 3);
  t.is(timeout('/pkg.Svc/Other'), 2);
  t.is(timeout('/other.O/Y'), 1);
  t.is(timeout('/unrelated.U/M'), 1);
  const noDefault = validateServiceConfig({ methodConfig: [{ name: [{ service: 'pkg.Svc' }] }] });
  t.is(getMethodConfig(noDefault, '/x.X/M'), undefined);
  t.is(getMethodConfig(null, '/pkg.Svc/M'), undefined);
});

test('chooseServiceConfig: the first choice matching every criterion wins', (t) => {
  const choices = JSON.stringify([
    { clientLanguage: ['go', 'java'], serviceConfig: { loadBalancingPolicy: 'round_robin' } },
    {
      clientHostname: ['not-this-host.invalid'],
      serviceConfig: { loadBalancingPolicy: 'round_robin' },
    },
    { percentage: 30, serviceConfig: { methodConfig: [{ name: [{}], waitForReady: true }] } },
    { clientLanguage: ['NODE'], clientHostname: [hostname()], serviceConfig: {} },
  ]);
  t.true(chooseServiceConfig(choices, 29)?.methodConfig[0].waitForReady);
  // percentage p matches draws 0..p-1.
  t.deepEqual(chooseServiceConfig(choices, 30), { loadBalancingConfig: [], methodConfig: [] });
  t.is(chooseServiceConfig([{ percentage: 0, serviceConfig: {} }], 0), null);
  t.not(chooseServiceConfig([{ percentage: 100, serviceConfig: {} }], 99), null);
  t.not(chooseServiceConfig([{ clientLanguage: [], serviceConfig: {} }], 50), null);
  t.is(chooseServiceConfig([], 0), null);
});

test('chooseServiceConfig: any invalid choice invalidates the record', (t) => {
  const bad = (value: unknown, message: RegExp) =>
    t.throws(() => chooseServiceConfig(value, 0), { message });
  bad('{not json', /Invalid service config choice list/);
  bad({}, /choice list: expected an array/);
  bad([{ serviceConfig: {}, extra: 1 }], /choice\[0\]: unexpected field extra/);
  bad(
    [{ clientLanguage: 'node', serviceConfig: {} }],
    /choice\[0\]\.clientLanguage: expected an array/,
  );
  bad([{ clientHostname: [1], serviceConfig: {} }], /choice\[0\]\.clientHostname\[0\]/);
  bad(
    [{ percentage: 101, serviceConfig: {} }],
    /choice\[0\]\.percentage: expected an integer from 0 to 100/,
  );
  bad([{ percentage: 50.5, serviceConfig: {} }], /percentage/);
  bad([{}], /choice\[0\]\.serviceConfig: is required/);
  bad(
    [{ serviceConfig: {} }, { serviceConfig: { methodConfig: [{ name: [{ method: 'M' }] }] } }],
    /choice\[1\]\.serviceConfig\.methodConfig\[0\]\.name\[0\]\.method: a method requires a service/,
  );
});

test('extractAndSelectServiceConfig reads the grpc_config TXT record', (t) => {
  const records = [
    ['v=spf1 -all'],
    ['grpc_config=[{"serviceConfig":', '{"loadBalancingPolicy":"round_robin"}}]'],
  ];
  t.is(extractAndSelectServiceConfig(records, 0)?.loadBalancingPolicy, 'round_robin');
  t.is(extractAndSelectServiceConfig([['other']], 0), null);
});
