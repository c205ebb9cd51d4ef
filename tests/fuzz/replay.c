/*
 * replay.c -- main() for a fuzz target built without libFuzzer.
 *
 * Runs LLVMFuzzerTestOneInput() once over every file named on the command
 * line and every regular file directly inside each directory named (sorted,
 * dot files skipped); with no arguments, over stdin. Each input is copied
 * to a heap buffer of exactly its size, as libFuzzer does, so that the
 * sanitizers catch a read past its end. This is how CI replays the corpora
 * with any compiler (`meson test --suite fuzz-replay`) and how a crash file
 * is reproduced under a debugger.
 * Exits 0 when every input ran, 1 when an argument could not be read.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Corpus files are small; anything larger is a mistake, not an input. */
#define REPLAY_MAX (64u << 20)

/* run_stream - reads all of fp and runs the target once on it. */
static int
run_stream(FILE *fp, const char *name)
{
	size_t cap = 4096, len = 0, n;
	uint8_t *data = malloc(cap), *exact;

	if (data == NULL)
		return -1;
	while ((n = fread(data + len, 1, cap - len, fp)) > 0) {
		len += n;
		if (len == cap) {
			uint8_t *p = cap < REPLAY_MAX ? realloc(data, cap * 2) : NULL;

			if (p == NULL) {
				fprintf(stderr, "replay: %s: too large\n", name);
				free(data);
				return -1;
			}
			data = p;
			cap *= 2;
		}
	}
	if (ferror(fp) || (exact = malloc(len > 0 ? len : 1)) == NULL) {
		fprintf(stderr, "replay: %s: read error\n", name);
		free(data);
		return -1;
	}
	memcpy(exact, data, len);
	free(data);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int
run_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	int rc;

	if (fp == NULL) {
		perror(path);
		return -1;
	}
	rc = run_stream(fp, path);
	fclose(fp);
	return rc;
}

static int
skip_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* run_dir - every regular file directly in dir; returns files run or -1. */
static int
run_dir(const char *dir)
{
	struct dirent **ents;
	int n, ran = 0, rc = 0;

	if ((n = scandir(dir, &ents, skip_dots, alphasort)) < 0) {
		perror(dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) < 0)
				rc = -1;
			ran++;
		}
		free(ents[i]);
	}
	free(ents);
	return rc < 0 ? -1 : ran;
}

int
main(int argc, char **argv)
{
	int total = 0, failed = 0;

	if (argc < 2)
		return run_stream(stdin, "stdin") < 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int n;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			n = run_dir(argv[i]);
		else
			n = run_file(argv[i]) < 0 ? -1 : 1;
		if (n < 0)
			failed++;
		else
			total += n;
	}
	printf("replay: %d inputs ran, %d arguments failed\n", total, failed);
	return failed > 0;
}
