/* The null FastCGI responder: answers every request 200 {} at once,
 * reading and ignoring its body. Behind the same web server as opstream,
 * it is what any FastCGI application can reach on this machine: the
 * bench shows create and status as fractions of it. Shaped as opstream's
 * responders are: PROCESSES processes of THREADS threads, each taking
 * one request at a time from one listening socket.
 *   usage: null_fcgi SOCKET_PATH PROCESSES THREADS */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int listen_fd;

static void *serve(void *arg)
{
    (void)arg;
    FCGX_Request req;
    if (FCGX_InitRequest(&req, listen_fd, 0) != 0)
        return NULL;
    char buf[4096];
    while (FCGX_Accept_r(&req) == 0) {
        while (FCGX_GetStr(buf, sizeof buf, req.in) > 0)
            ;
        FCGX_PutS("Status: 200 OK\r\nContent-Type: application/json\r\n"
                  "Content-Length: 2\r\n\r\n{}", req.out);
        FCGX_Finish_r(&req);
    }
    return NULL;
}

static void run_threads(int n)
{
    pthread_t t[64];
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, serve, NULL) != 0)
            exit(1);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: null_fcgi SOCKET_PATH PROCESSES THREADS\n");
        return 2;
    }
    int procs = atoi(argv[2]), threads = atoi(argv[3]);
    if (procs < 1 || procs > 64 || threads < 1 || threads > 64) {
        fprintf(stderr, "null_fcgi: 1 to 64 processes and threads\n");
        return 2;
    }
    if (FCGX_Init() != 0 || (listen_fd = FCGX_OpenSocket(argv[1], 1024)) < 0) {
        fprintf(stderr, "null_fcgi: cannot listen on %s\n", argv[1]);
        return 1;
    }
    chmod(argv[1], 0666);
    for (int i = 1; i < procs; i++)
        if (fork() == 0) {
            run_threads(threads);
            return 0;
        }
    run_threads(threads);
    while (wait(NULL) > 0)
        ;
    return 0;
}
