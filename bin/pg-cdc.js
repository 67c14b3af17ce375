#!/usr/bin/env node
// The pg-cdc command. Sources are TypeScript, run through tsx's loader so there is no build step to forget.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
