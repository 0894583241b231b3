import NIOCore

/// Runs Swift tasks on one NIO event loop: the loop the client's connections live on.
///
/// A task that calls the client with this executor preference
/// (`withTaskExecutorPreference`, `addTask(executorPreference:)`) starts each
/// request and resumes with its answer on the loop's own thread, instead of
/// hopping between Swift's shared pool and the loop twice per request (each hop
/// a wake-up and a context switch: about a quarter of the loader's CPU in a
/// drain, and CPU the SQS server on the same machine then lacks).
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
