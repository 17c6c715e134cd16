/** @twofold/test-support's sample runs inside a tap test: `t` is tap's root test, `installed` says oathtool is. */
import { hasCommand } from '@twofold/test-support';
import tap from 'tap';

export const t = tap;
export const installed = await hasCommand('oathtool');
