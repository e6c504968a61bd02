/** The CLI's commands. Each lives in its own module; this list is the only place they meet. */
import type { Command } from './args.js';
import { probeCommand } from './probe.js';
import { tourCommand } from './tour.js';

export const COMMANDS: Command[] = [tourCommand, probeCommand];
export const DEFAULT_COMMAND = 'tour';
