// For users with sbt: `sbt package` builds the same jobs. The repo's own build is build.sh (offline,
// with the Scala compiler and Spark jars shipped in the pyspark wheel); keep the versions in step.
ThisBuild / scalaVersion := "2.13.18"
ThisBuild / organization := "abalone"

val sparkVersion = "4.3.0"

lazy val root = (project in file("."))
  .settings(
    name := "abalone-jobs",
    version := "0.1.0",
    javacOptions ++= Seq("--release", "17"),
    scalacOptions ++= Seq("-deprecation", "-feature", "-release", "17"),
    libraryDependencies ++= Seq(
      "org.apache.spark" %% "spark-sql" % sparkVersion % "provided",
      "org.apache.spark" %% "spark-mllib" % sparkVersion % "provided"
    ),
    Compile / packageBin / artifactPath := baseDirectory.value / "target" / "abalone-jobs.jar"
  )
