/* weft — self-registration: a feature adds itself to a read-only table from
 * its own file, so adding a feature means adding a file.
 *
 * Each registry is an ELF section of pointers, collected by the linker:
 *
 *   static const weft_cli_cmd_t cmd_check = { ... };
 *   WEFT_REGISTER(weft_cli, cmd_check);
 *
 *   WEFT_REGISTRY_FOREACH(weft_cli, const weft_cli_cmd_t, c) { ... }
 *
 * Binaries link the objects themselves (not an archive), so every registered
 * file is present. */
#ifndef WEFT_REGISTER_H
#define WEFT_REGISTER_H

#define WEFT_REGISTER(sect, obj)                                            \
	static const void *const weft_reg_##sect##_##obj                    \
		__attribute__((used, section(#sect), aligned(sizeof(void *)))) = &(obj)

#define WEFT_REGISTRY_DECLARE(sect)                                         \
	extern const void *const __start_##sect[] __attribute__((weak));    \
	extern const void *const __stop_##sect[] __attribute__((weak))

/* Iterates every registered object as `type *var`. */
#define WEFT_REGISTRY_FOREACH(section, type, var)                              \
	for (const void *const *weft_it_##var = __start_##section;             \
	     weft_it_##var && weft_it_##var < __stop_##section;                \
	     weft_it_##var++)                                                  \
		for (type *var = *weft_it_##var; var; var = NULL)

#endif
