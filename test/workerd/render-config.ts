/**
 * Renders a workerd config template for the tests: embed paths rebased to the fixtures
 * directory the rendered config is written into, and the chunks dist/index.js imports
 * (transitively) listed where the template's `# @dist-chunks` line is, under the names workerd
 * resolves them to from the module "layerdiff" (tsup names shared chunks anew in every build).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(here, '../../dist');

/** Relative imports of an ES module (tsup's shared chunks). */
function relativeImports(source: string): string[] {
  return [...source.matchAll(/(?:from|import)\s*["'](\.\.?\/[^"']+)["']/g)].map((m) => m[1]!);
}

/**
 * Writes `<fixtures>/<template's name>` from a template in test/workerd/.
 * @param template - the template's path.
 * @param fixtures - where the rendered config goes (embed paths are made relative to it).
 * @param values - `@name` placeholders to replace, such as a socket address.
 * @returns the rendered config's path.
 */
export function renderConfig(
  template: string,
  fixtures: string,
  values: Record<string, string> = {},
): string {
  const chunks: string[] = [];
  const visit = (file: string) => {
    for (const spec of relativeImports(readFileSync(join(dist, file), 'utf8'))) {
      const name = posix.normalize(posix.join(posix.dirname(file), spec));
      if (chunks.includes(name)) continue;
      if (!existsSync(join(dist, name))) throw new Error(`dist/${file} imports missing ${spec}`);
      chunks.push(name);
      visit(name);
    }
  };
  visit('index.js');
  let text = readFileSync(template, 'utf8');
  if (!text.includes('# @dist-chunks')) throw new Error(`${template} lost its @dist-chunks line`);
  for (const [name, value] of Object.entries(values)) text = text.replaceAll(`@${name}`, value);
  const config = text
    .replace(
      '# @dist-chunks',
      chunks.map((c) => `(name = "${c}", esModule = embed "../../dist/${c}"),`).join('\n    '),
    )
    .replace(
      /embed "([^"]+)"/g,
      (_, p: string) => `embed "${relative(fixtures, resolve(dirname(template), p))}"`,
    );
  const file = join(fixtures, basename(template));
  writeFileSync(file, config);
  return file;
}
